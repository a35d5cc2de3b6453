#include "engine/tokenizer/gpt2_tokenizer.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/tokenizer/gpt2_pretokenizer.h"
#include "engine/tokenizer/hf_tokenizer_json.h"
#include "engine/tokenizer/utf8.h"

namespace llmserve {
namespace {

constexpr std::string_view kEndOfText = "<|endoftext|>";

// encoder.py `bytes_to_unicode()`: printable Latin-1 bytes map to themselves,
// the other 68 bytes to U+0100.. in byte order.
struct ByteLevelTables {
  std::array<int32_t, 256> byte_to_cp;
  std::array<int16_t, 512> cp_to_byte;  // -1 where no byte maps to the code point

  ByteLevelTables() {
    cp_to_byte.fill(-1);
    int32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      byte_to_cp[b] = printable ? b : next++;
      cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& Tables() {
  static const ByteLevelTables* const tables = new ByteLevelTables();
  return *tables;
}

// The bytes a byte-level token stands for; its own UTF-8 if some character is
// not a byte-level one (as Hugging Face's ByteLevel decoder does).
std::string ByteLevelDecode(std::string_view token) {
  std::string out;
  for (std::string_view rest = token; !rest.empty();) {
    const Utf8Unit u = DecodeUtf8(rest);
    if (u.kind != Utf8Unit::kValid || u.code_point >= 512 ||
        Tables().cp_to_byte[u.code_point] < 0) {
      return std::string(token);
    }
    out.push_back(static_cast<char>(Tables().cp_to_byte[u.code_point]));
    rest.remove_prefix(u.length);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Gpt2Tokenizer>> Gpt2Tokenizer::LoadVocabAndMerges(
    const std::string& vocab_json_path, const std::string& merges_path) {
  absl::StatusOr<nlohmann::json> vocab_json = ReadJsonFile(vocab_json_path);
  if (!vocab_json.ok()) return vocab_json.status();
  auto vocab = ParseVocabObject(*vocab_json, vocab_json_path);
  if (!vocab.ok()) return vocab.status();
  absl::StatusOr<std::string> merges_text = ReadTextFile(merges_path);
  if (!merges_text.ok()) return merges_text.status();
  auto merges = ParseMergesText(*merges_text, merges_path);
  if (!merges.ok()) return merges.status();
  return FromVocabAndMerges(*vocab, *merges, absl::StrCat(vocab_json_path, " + ", merges_path));
}

absl::StatusOr<std::unique_ptr<Gpt2Tokenizer>> Gpt2Tokenizer::FromVocabAndMerges(
    const std::vector<std::pair<std::string, int32_t>>& vocab,
    const std::vector<std::pair<std::string, std::string>>& merges, std::string_view name_view) {
  const std::string name(name_view);
  absl::StatusOr<RankedBpe> bpe = RankedBpe::Build(vocab, merges, name);
  if (!bpe.ok()) return bpe.status();
  std::vector<AddedToken> added;
  if (const int32_t id = bpe->Find(kEndOfText); id >= 0) {
    added.push_back({.id = id, .content = std::string(kEndOfText), .special = true});
  }
  return Finish(*std::move(bpe), Options(), std::move(added), name);
}

absl::StatusOr<std::unique_ptr<Gpt2Tokenizer>> Gpt2Tokenizer::LoadTokenizerJson(
    const std::string& path) {
  absl::StatusOr<nlohmann::json> root = ReadJsonFile(path);
  if (!root.ok()) return root.status();
  return FromTokenizerJson(*root, path);
}

absl::StatusOr<std::unique_ptr<Gpt2Tokenizer>> Gpt2Tokenizer::FromTokenizerJson(
    const nlohmann::json& root, std::string_view name_view) {
  const std::string name(name_view);
  if (!root.is_object()) return absl::InvalidArgumentError(name + ": not a JSON object");
  if (auto it = root.find("normalizer"); it != root.end() && !it->is_null()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": normalizer \"", JsonType(*it),
                     "\" is not supported for byte-level BPE (only null)"));
  }
  const nlohmann::json* pre = nullptr;
  if (auto it = root.find("pre_tokenizer"); it != root.end()) pre = &*it;
  if (pre == nullptr || JsonType(*pre) != "ByteLevel") {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": pre_tokenizer is \"", pre == nullptr ? "" : JsonType(*pre),
                     "\", a GPT-2 byte-level tokenizer needs \"ByteLevel\""));
  }
  Options options;
  const std::string where = name + " pre_tokenizer";
  absl::StatusOr<bool> add_prefix_space = JsonBool(*pre, "add_prefix_space", false, where);
  if (!add_prefix_space.ok()) return add_prefix_space.status();
  absl::StatusOr<bool> use_regex = JsonBool(*pre, "use_regex", true, where);
  if (!use_regex.ok()) return use_regex.status();
  options.add_prefix_space = *add_prefix_space;
  options.use_regex = *use_regex;

  absl::StatusOr<HfBpeModel> model = ParseHfBpeModel(root, name);
  if (!model.ok()) return model.status();
  if (model->byte_fallback) {
    return absl::InvalidArgumentError(name +
                                      ": model.byte_fallback with a ByteLevel pre_tokenizer");
  }
  options.ignore_merges = model->ignore_merges;
  absl::StatusOr<std::vector<AddedToken>> added = ParseAddedTokens(root, name);
  if (!added.ok()) return added.status();
  return Finish(std::move(model->bpe), options, *std::move(added), name);
}

absl::StatusOr<std::unique_ptr<Gpt2Tokenizer>> Gpt2Tokenizer::Finish(RankedBpe bpe, Options options,
                                                                     std::vector<AddedToken> added,
                                                                     std::string_view name) {
  auto tok = std::unique_ptr<Gpt2Tokenizer>(new Gpt2Tokenizer(std::move(bpe), options));
  const RankedBpe& vocab = tok->bpe_;
  std::string piece;
  for (int b = 0; b < 256; ++b) {
    piece.clear();
    AppendUtf8(Tables().byte_to_cp[b], &piece);
    tok->byte_ids_[b] = vocab.Find(piece);
    if (tok->byte_ids_[b] < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: the vocabulary lacks the byte-level token \"%s\" for byte 0x%02X",
                          std::string(name), piece, b));
    }
  }
  int32_t size = vocab.id_limit();
  for (const AddedToken& t : added) size = std::max(size, t.id + 1);
  tok->token_bytes_.resize(size);
  for (int32_t id = 0; id < vocab.id_limit(); ++id) {
    tok->token_bytes_[id] = ByteLevelDecode(vocab.token(id));
  }
  for (const AddedToken& t : added) {
    tok->token_bytes_[t.id] = t.special ? "" : t.content;
    if (t.content == kEndOfText) tok->endoftext_id_ = t.id;
  }
  if (tok->endoftext_id_ < 0) tok->endoftext_id_ = vocab.Find(kEndOfText);
  tok->added_ = AddedTokenSplitter(std::move(added));
  return tok;
}

void Gpt2Tokenizer::EncodeWord(std::string_view word, std::vector<int32_t>* out) const {
  if (options_.ignore_merges) {
    std::string mapped;
    for (char c : word) AppendUtf8(Tables().byte_to_cp[static_cast<uint8_t>(c)], &mapped);
    if (const int32_t id = bpe_.Find(mapped); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(word.size());
  for (char c : word) symbols.push_back(byte_ids_[static_cast<uint8_t>(c)]);
  bpe_.Merge(&symbols);
  out->insert(out->end(), symbols.begin(), symbols.end());
}

absl::StatusOr<std::vector<int32_t>> Gpt2Tokenizer::Encode(std::string_view text,
                                                           bool /*add_bos*/) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  std::string prefixed;
  for (const AddedTokenSplitter::Segment& segment : added_.Split(text)) {
    if (segment.token_id >= 0) {
      ids.push_back(segment.token_id);
      continue;
    }
    std::string_view plain = segment.text;
    if (options_.add_prefix_space && plain[0] != ' ') {
      prefixed = absl::StrCat(" ", std::string(plain));
      plain = prefixed;
    }
    if (!options_.use_regex) {
      EncodeWord(plain, &ids);
      continue;
    }
    for (std::string_view word : Gpt2PreTokenize(plain)) EncodeWord(word, &ids);
  }
  return ids;
}

std::string Gpt2Tokenizer::TokenBytes(int32_t /*prev_id*/, int32_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return token_bytes_[id];
}

}  // namespace llmserve
