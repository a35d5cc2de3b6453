#ifndef LLMSERVE_ENGINE_TOKENIZER_HF_TOKENIZER_JSON_H_
#define LLMSERVE_ENGINE_TOKENIZER_HF_TOKENIZER_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/ranked_bpe.h"
#include "nlohmann/json.hpp"

namespace llmserve {

// Readers for the files of Hugging Face tokenizers: `tokenizer.json` (format of
// the `tokenizers` library: "model", "added_tokens", "normalizer",
// "pre_tokenizer", "post_processor", "decoder"), `vocab.json` and `merges.txt`.
// Every error is INVALID_ARGUMENT (NOT_FOUND for a missing file) and names the
// file and the JSON field or line.

/// Reads a whole file. Errors: NOT_FOUND, INVALID_ARGUMENT/INTERNAL from the OS.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

/// Parses JSON text; `name` (a file name) is used in errors, which give the byte
/// position of a syntax error.
absl::StatusOr<nlohmann::json> ParseJsonText(std::string_view text, std::string_view name);

/// ReadTextFile + ParseJsonText.
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

/// A flat {"token": id, ...} object: `vocab.json` or tokenizer.json model.vocab.
absl::StatusOr<std::vector<std::pair<std::string, int32_t>>> ParseVocabObject(
    const nlohmann::json& vocab, std::string_view name);

/// tokenizer.json model.merges: ["a b", ...] (pieces split at the single space)
/// or, in newer files, [["a", "b"], ...].
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseMergesArray(
    const nlohmann::json& merges, std::string_view name);

/// `merges.txt` / GPT-2 `vocab.bpe`: one "a b" merge per line, best first; a
/// first line starting with "#version" and a final empty line are skipped.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseMergesText(
    std::string_view text, std::string_view name);

/// The "added_tokens" array of a tokenizer.json (empty if absent or null).
absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const nlohmann::json& root,
                                                         std::string_view name);

/// The "model" of a tokenizer.json, which must have type "BPE".
struct HfBpeModel {
  RankedBpe bpe;
  std::string unk_token;  // empty if none
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
};

/// Parses root["model"]. Errors also for a type other than BPE and for the
/// unsupported options continuing_subword_prefix, end_of_word_suffix and a
/// non-zero dropout.
absl::StatusOr<HfBpeModel> ParseHfBpeModel(const nlohmann::json& root, std::string_view name);

/// `j[key]` as a bool, `fallback` if absent or null. Errors if another type.
absl::StatusOr<bool> JsonBool(const nlohmann::json& j, const char* key, bool fallback,
                              std::string_view where);

/// `j[key]` as a string, `fallback` if absent or null. Errors if another type.
absl::StatusOr<std::string> JsonString(const nlohmann::json& j, const char* key,
                                       std::string_view fallback, std::string_view where);

/// The "type" of a tokenizer.json component object, or "" if `j` is not an object.
std::string JsonType(const nlohmann::json& j);

/// `j[key]` if `j` is an object that has it, else a null value.
const nlohmann::json& JsonField(const nlohmann::json& j, const std::string& key);

/// The parts of a component: the items of `j[list_key]` if `j` has type
/// "Sequence" (e.g. list_key "normalizers"), else `j` itself; none for null.
std::vector<const nlohmann::json*> JsonComponents(const nlohmann::json& j, const char* list_key);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_HF_TOKENIZER_JSON_H_
