#ifndef LLMSERVE_ENGINE_TOKENIZER_HF_LLAMA_TOKENIZER_H_
#define LLMSERVE_ENGINE_TOKENIZER_HF_LLAMA_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/ranked_bpe.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace llmserve {

/// A Hugging Face `tokenizer.json` for Llama-family (SentencePiece-converted)
/// models, encoded as the `tokenizers` library does:
///  1. added tokens (`added_tokens`, e.g. "<s>") are split out of the text;
///  2. each remaining segment is normalized: the legacy normalizer
///     Sequence[Prepend("▁"), Replace(" " → "▁")] (Prepend only applies to
///     non-empty text, so every segment gets its own "▁"), or the newer
///     Metaspace pre-tokenizer (" " → replacement, then the replacement is
///     prepended unless the segment already starts with it, for
///     prepend_scheme "always", or "first" for the segment at offset 0 only;
///     with `split` the text is cut before each replacement character);
///  3. the BPE model: one symbol per UTF-8 character, characters not in the
///     vocabulary become "<0xXX>" byte tokens (`byte_fallback`) or the unk
///     token, then merges by rank (RankedBpe).
/// Decoding follows the decoder: "▁" → " ", "<0xXX>" → the raw byte, and the
/// first leading space is stripped (Strip decoder / Metaspace with a prepend
/// scheme) for the first token of a text, i.e. after `prev_id` -1 or BOS.
/// Special added tokens decode to nothing.
///
/// Unsupported (load fails with INVALID_ARGUMENT): other normalizers (NFKC,
/// Lowercase, ...), regex patterns, other pre-tokenizers, BPE dropout.
/// Ill-formed UTF-8 in the input (which `tokenizers` cannot receive) goes
/// through byte fallback one maximal subpart at a time.
class HfLlamaTokenizer final : public Tokenizer {
 public:
  /// Loads a tokenizer.json. Errors: NOT_FOUND; INVALID_ARGUMENT naming the file
  /// and field for bad JSON, an unsupported component or a bad vocabulary.
  static absl::StatusOr<std::unique_ptr<HfLlamaTokenizer>> Load(const std::string& path);

  /// Same as Load, from the parsed JSON; `name` is used in errors.
  static absl::StatusOr<std::unique_ptr<HfLlamaTokenizer>> FromTokenizerJson(
      const nlohmann::json& root, std::string_view name);

  /// Prepends BOS if `add_bos` and bos_id() >= 0. Errors: INVALID_ARGUMENT if
  /// a character is in neither the vocabulary nor byte fallback and there is
  /// no unk token.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool add_bos) const override;

  std::string TokenBytes(int32_t prev_id, int32_t id) const override;

  int32_t vocab_size() const override { return static_cast<int32_t>(token_bytes_.size()); }
  /// The first special token of post_processor's TemplateProcessing "single"
  /// template, else "<s>" if it exists, else -1.
  int32_t bos_id() const override { return bos_id_; }
  /// "</s>" if it exists, else -1.
  int32_t eos_id() const override { return eos_id_; }

 private:
  /// A normalizer or decoder step: Prepend(content) or Replace(pattern → content).
  struct Edit {
    bool prepend;         // Prepend: `content` goes before non-empty text
    std::string pattern;  // Replace: every occurrence (non-empty) becomes `content`
    std::string content;
  };
  enum class PrependScheme { kAlways, kFirst, kNever };

  explicit HfLlamaTokenizer(RankedBpe bpe) : bpe_(std::move(bpe)) {}

  absl::Status ParseNormalizer(const nlohmann::json& root, const std::string& name);
  absl::Status ParsePreTokenizer(const nlohmann::json& root, const std::string& name);
  absl::Status ParseDecoder(const nlohmann::json& root, const std::string& name);
  void ParsePostProcessor(const nlohmann::json& root);

  /// Normalizes and pre-tokenizes one plain-text segment that starts at byte
  /// `offset` of the input; returns its words.
  std::vector<std::string> Words(std::string_view segment, std::size_t offset) const;
  /// Appends the ids of one word (character symbols + byte fallback + merges).
  absl::Status EncodeWord(std::string_view word, std::vector<int32_t>* out) const;

  RankedBpe bpe_;
  AddedTokenSplitter added_;
  std::vector<Edit> normalizer_;
  bool metaspace_ = false;
  std::string metaspace_replacement_;
  PrependScheme prepend_scheme_ = PrependScheme::kNever;
  bool metaspace_split_ = false;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  int32_t unk_id_ = -1;
  std::array<int32_t, 256> byte_ids_{};  // "<0xXX>" tokens, -1 if missing
  // Decoding.
  std::vector<Edit> decoder_replacements_;
  bool decoder_byte_fallback_ = false;
  bool strip_leading_space_ = false;
  std::vector<std::string> token_bytes_;  // by id
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_HF_LLAMA_TOKENIZER_H_
