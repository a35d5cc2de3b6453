#include "engine/loaders/gguf_tokenizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/tokenizer/gpt2_tokenizer.h"
#include "engine/tokenizer/llama2c_tokenizer.h"

namespace llmserve {
namespace {

absl::Status Invalid(const GgufFile& f, absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(f.name(), ": ", key, ": ", what));
}

// Checks an optional id key against the id the tokenizer implementation uses.
absl::Status CheckId(const GgufFile& f, absl::string_view key, int64_t want) {
  if (f.Find(key) == nullptr) return absl::OkStatus();
  auto id = f.GetInt(key);
  if (!id.ok()) return id.status();
  if (*id != want) {
    return Invalid(f, key, absl::StrCat("is ", *id, "; the SentencePiece (llama2.c) tokenizer needs ",
                                        want));
  }
  return absl::OkStatus();
}

void AppendLittleEndian(std::string& out, const void* p, std::size_t n) {
  out.append(static_cast<const char*>(p), n);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LlamaTokenizer(const GgufFile& f) {
  auto tokens = f.GetStringArray("tokenizer.ggml.tokens");
  if (!tokens.ok()) return tokens.status();
  auto scores = f.GetNumberArray("tokenizer.ggml.scores");
  if (!scores.ok()) return scores.status();
  if (scores->size() != tokens->size()) {
    return Invalid(f, "tokenizer.ggml.scores",
                   absl::StrCat(scores->size(), " scores for ", tokens->size(), " tokens"));
  }
  if (tokens->size() < 3 || tokens->size() > (1u << 24)) {
    return Invalid(f, "tokenizer.ggml.tokens",
                   absl::StrCat(tokens->size(), " tokens (3 to 2^24 allowed)"));
  }
  for (auto [key, id] : {std::pair<const char*, int64_t>{"tokenizer.ggml.unknown_token_id", 0},
                         {"tokenizer.ggml.bos_token_id", Llama2cTokenizer::kBosId},
                         {"tokenizer.ggml.eos_token_id", Llama2cTokenizer::kEosId}}) {
    if (auto s = CheckId(f, key, id); !s.ok()) return s;
  }
  const std::size_t byte_pieces = std::min<std::size_t>(256, tokens->size() - 3);
  for (std::size_t b = 0; b < byte_pieces; ++b) {
    char want[8];
    std::snprintf(want, sizeof(want), "<0x%02X>", static_cast<unsigned>(b));
    if ((*tokens)[b + 3] != want) {
      return Invalid(f, "tokenizer.ggml.tokens",
                     absl::StrCat("token ", b + 3, " is \"", (*tokens)[b + 3], "\", expected \"",
                                  want, "\" (byte pieces at ids 3..258)"));
    }
  }
  // llama2.c's tokenizer.bin: int32 max_token_length, then per token float32
  // score, int32 length, bytes (SentencePiece's "▁" as ' ').
  std::vector<std::string> pieces;
  pieces.reserve(tokens->size());
  int32_t max_len = 1;
  for (const std::string& t : *tokens) {
    pieces.push_back(absl::StrReplaceAll(t, {{"\xE2\x96\x81", " "}}));
    max_len = std::max<int32_t>(max_len, static_cast<int32_t>(pieces.back().size()));
  }
  std::string bytes;
  AppendLittleEndian(bytes, &max_len, 4);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const float score = static_cast<float>((*scores)[i]);
    if (std::isnan(score)) return Invalid(f, "tokenizer.ggml.scores", absl::StrCat("score ", i, " is NaN"));
    const int32_t len = static_cast<int32_t>(pieces[i].size());
    AppendLittleEndian(bytes, &score, 4);
    AppendLittleEndian(bytes, &len, 4);
    bytes += pieces[i];
  }
  auto tok = Llama2cTokenizer::FromBytes(bytes, static_cast<int32_t>(pieces.size()),
                                         absl::StrCat(f.name(), " tokenizer.ggml.tokens"));
  if (!tok.ok()) return tok.status();
  return std::unique_ptr<Tokenizer>(*std::move(tok));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Gpt2BpeTokenizer(const GgufFile& f) {
  if (f.Find("tokenizer.ggml.pre") != nullptr) {
    auto pre = f.GetString("tokenizer.ggml.pre");
    if (!pre.ok()) return pre.status();
    if (*pre != "gpt-2" && *pre != "default") {
      return Invalid(f, "tokenizer.ggml.pre",
                     absl::StrCat("pre-tokenizer \"", *pre,
                                  "\" is not supported (only GPT-2's: \"gpt-2\", \"default\")"));
    }
  }
  auto tokens = f.GetStringArray("tokenizer.ggml.tokens");
  if (!tokens.ok()) return tokens.status();
  auto merge_lines = f.GetStringArray("tokenizer.ggml.merges");
  if (!merge_lines.ok()) return merge_lines.status();
  std::vector<std::pair<std::string, int32_t>> vocab;
  vocab.reserve(tokens->size());
  if (tokens->size() > (1u << 24)) {
    return Invalid(f, "tokenizer.ggml.tokens", absl::StrCat(tokens->size(), " tokens (2^24 allowed)"));
  }
  for (std::size_t i = 0; i < tokens->size(); ++i) {
    vocab.emplace_back(std::move((*tokens)[i]), static_cast<int32_t>(i));
  }
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merge_lines->size());
  for (std::size_t i = 0; i < merge_lines->size(); ++i) {
    const std::string& line = (*merge_lines)[i];
    const std::size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size()) {
      return Invalid(f, "tokenizer.ggml.merges",
                     absl::StrCat("merge ", i, " \"", line, "\" is not \"left right\""));
    }
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  auto tok = Gpt2Tokenizer::FromVocabAndMerges(vocab, merges,
                                               absl::StrCat(f.name(), " tokenizer.ggml.*"));
  if (!tok.ok()) return tok.status();
  return std::unique_ptr<Tokenizer>(*std::move(tok));
}

// A tokenizer that never prepends BOS: for files whose metadata says
// tokenizer.ggml.add_bos_token = false.
class WithoutBos final : public Tokenizer {
 public:
  explicit WithoutBos(std::unique_ptr<Tokenizer> inner) : inner_(std::move(inner)) {}
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool) const override {
    return inner_->Encode(text, /*add_bos=*/false);
  }
  std::string TokenBytes(int32_t prev_id, int32_t id) const override {
    return inner_->TokenBytes(prev_id, id);
  }
  int32_t vocab_size() const override { return inner_->vocab_size(); }
  int32_t bos_id() const override { return inner_->bos_id(); }
  int32_t eos_id() const override { return inner_->eos_id(); }

 private:
  std::unique_ptr<Tokenizer> inner_;
};

absl::StatusOr<std::unique_ptr<Tokenizer>> TokenizerByModel(const GgufFile& file,
                                                             const std::string& model) {
  if (model == "llama") return LlamaTokenizer(file);
  if (model == "gpt2") return Gpt2BpeTokenizer(file);
  return Invalid(file, "tokenizer.ggml.model",
                 absl::StrCat("tokenizer model \"", model,
                              "\" is not supported (\"llama\" and \"gpt2\" are)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> TokenizerFromGguf(const GgufFile& file) {
  auto model = file.GetString("tokenizer.ggml.model");
  if (!model.ok()) {
    if (absl::IsNotFound(model.status())) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.name(), ": no tokenizer in the metadata (tokenizer.ggml.model is missing)"));
    }
    return model.status();
  }
  auto tokenizer = TokenizerByModel(file, *model);
  if (!tokenizer.ok()) return tokenizer.status();
  if (const GgufValue* add_bos = file.Find("tokenizer.ggml.add_bos_token"); add_bos != nullptr) {
    if (add_bos->type != GgufValueType::kBool) {
      return Invalid(file, "tokenizer.ggml.add_bos_token",
                     absl::StrCat("expected a bool, found ", GgufValueTypeName(add_bos->type)));
    }
    if (add_bos->i == 0) return std::unique_ptr<Tokenizer>(new WithoutBos(*std::move(tokenizer)));
  }
  return tokenizer;
}

}  // namespace llmserve
