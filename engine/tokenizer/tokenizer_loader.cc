#include "engine/tokenizer/tokenizer_loader.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizer/gpt2_tokenizer.h"
#include "engine/tokenizer/hf_llama_tokenizer.h"
#include "engine/tokenizer/hf_tokenizer_json.h"
#include "engine/tokenizer/llama2c_tokenizer.h"

namespace llmserve {
namespace {

namespace fs = std::filesystem;

constexpr char kSearchOrder[] =
    "tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe, tokenizer.bin, tok*.bin";

bool IsFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool IsDirectory(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

template <typename T>
absl::StatusOr<std::unique_ptr<Tokenizer>> Upcast(absl::StatusOr<std::unique_ptr<T>> tok) {
  if (!tok.ok()) return tok.status();
  return std::unique_ptr<Tokenizer>(*std::move(tok));
}

// GPT-2 from the first vocabulary + merges file pair that exists in `dir`.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGpt2Pair(const fs::path& dir,
                                                        const std::string& asked_for) {
  for (const auto& [vocab, merges] :
       {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"},
        std::pair{"vocab.json", "vocab.bpe"}, std::pair{"encoder.json", "merges.txt"}}) {
    if (IsFile(dir / vocab) && IsFile(dir / merges)) {
      return Upcast(Gpt2Tokenizer::LoadVocabAndMerges(dir / vocab, dir / merges));
    }
  }
  return absl::NotFoundError(absl::StrCat(
      asked_for,
      ": a GPT-2 tokenizer needs vocab.json + merges.txt (or encoder.json + vocab.bpe) in ",
      dir.string()));
}

// The tokenizer named by `path`, a file.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFile(const fs::path& path, int32_t vocab_size) {
  const std::string name = path.filename().string();
  if (name.ends_with(".bin")) return Upcast(Llama2cTokenizer::Load(path, vocab_size));
  if (name == "vocab.json" || name == "encoder.json" || name == "merges.txt" ||
      name == "vocab.bpe") {
    return LoadGpt2Pair(path.parent_path(), path.string());
  }
  if (name.ends_with(".json")) return LoadHfTokenizerJson(path);
  return absl::InvalidArgumentError(
      absl::StrCat(path.string(),
                   ": unrecognized tokenizer file (expected a llama2.c *.bin, tokenizer.json, "
                   "vocab.json/encoder.json or merges.txt/vocab.bpe)"));
}

// The first tokenizer in `dir` in kSearchOrder, ignoring the file `exclude`.
absl::StatusOr<std::unique_ptr<Tokenizer>> FindInDirectory(const fs::path& dir,
                                                           const fs::path& exclude,
                                                           int32_t vocab_size) {
  if (IsFile(dir / "tokenizer.json")) return LoadHfTokenizerJson(dir / "tokenizer.json");
  if ((IsFile(dir / "vocab.json") || IsFile(dir / "encoder.json")) &&
      (IsFile(dir / "merges.txt") || IsFile(dir / "vocab.bpe"))) {
    return LoadGpt2Pair(dir, dir.string());
  }
  if (IsFile(dir / "tokenizer.bin")) {
    return Upcast(Llama2cTokenizer::Load(dir / "tokenizer.bin", vocab_size));
  }
  std::vector<std::string> tok_bins;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("tok") && name.ends_with(".bin") && entry.is_regular_file(ec) &&
        entry.path() != exclude) {
      tok_bins.push_back(name);
    }
  }
  if (!tok_bins.empty()) {
    std::sort(tok_bins.begin(), tok_bins.end());
    return Upcast(Llama2cTokenizer::Load(dir / tok_bins.front(), vocab_size));
  }
  return absl::NotFoundError(
      absl::StrCat("no tokenizer found in ", dir.string(), ": looked for ", kSearchOrder,
                   ec ? absl::StrCat(" (cannot list the directory: ", ec.message(), ")") : ""));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Locate(const std::string& model_path,
                                                  const std::string& tokenizer_path,
                                                  int32_t vocab_size) {
  if (!tokenizer_path.empty()) {
    if (IsDirectory(tokenizer_path)) return FindInDirectory(tokenizer_path, {}, vocab_size);
    if (!IsFile(tokenizer_path)) {
      return absl::NotFoundError(
          absl::StrCat("tokenizer path ", tokenizer_path, " does not exist"));
    }
    return LoadFile(tokenizer_path, vocab_size);
  }
  if (model_path.empty()) {
    return absl::InvalidArgumentError("neither a tokenizer path nor a model path was given");
  }
  if (IsDirectory(model_path)) return FindInDirectory(model_path, {}, vocab_size);
  if (IsFile(model_path)) {
    const fs::path model(model_path);
    fs::path dir = model.parent_path();
    if (dir.empty()) dir = ".";
    return FindInDirectory(dir, model, vocab_size);
  }
  return absl::NotFoundError(absl::StrCat("model path ", model_path, " does not exist"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizerJson(const std::string& path) {
  absl::StatusOr<nlohmann::json> root = ReadJsonFile(path);
  if (!root.ok()) return root.status();
  if (!root->is_object() || !JsonField(*root, "model").is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a Hugging Face tokenizer.json (no \"model\" object)"));
  }
  auto has = [&](const char* field, const char* list_key,
                 std::initializer_list<const char*> types) {
    for (const nlohmann::json* part : JsonComponents(JsonField(*root, field), list_key)) {
      for (const char* type : types) {
        if (JsonType(*part) == type) return true;
      }
    }
    return false;
  };
  if (has("pre_tokenizer", "pretokenizers", {"ByteLevel"})) {
    return Upcast(Gpt2Tokenizer::FromTokenizerJson(*root, path));
  }
  const nlohmann::json& byte_fallback = JsonField(JsonField(*root, "model"), "byte_fallback");
  if ((byte_fallback.is_boolean() && byte_fallback.get<bool>()) ||
      has("pre_tokenizer", "pretokenizers", {"Metaspace"}) ||
      has("normalizer", "normalizers", {"Prepend", "Replace"})) {
    return Upcast(HfLlamaTokenizer::FromTokenizerJson(*root, path));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path,
      ": unsupported tokenizer.json: neither GPT-2 byte-level (ByteLevel pre_tokenizer) nor "
      "Llama-style (byte_fallback, Metaspace, or a Prepend/Replace normalizer)"));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_path,
                                                         const std::string& tokenizer_path,
                                                         int32_t vocab_size) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Locate(model_path, tokenizer_path, vocab_size);
  if (!tok.ok()) return tok.status();
  if (vocab_size > 0 && (*tok)->vocab_size() > vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the tokenizer has ", (*tok)->vocab_size(), " tokens but the model's vocab_size is ",
        vocab_size, " (model ", model_path, ", tokenizer ", tokenizer_path, ")"));
  }
  return tok;
}

}  // namespace llmserve
