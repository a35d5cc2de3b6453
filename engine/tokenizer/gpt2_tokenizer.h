#ifndef LLMSERVE_ENGINE_TOKENIZER_GPT2_TOKENIZER_H_
#define LLMSERVE_ENGINE_TOKENIZER_GPT2_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/ranked_bpe.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace llmserve {

/// GPT-2 byte-level BPE (OpenAI's encoder.py; Hugging Face's BPE model with the
/// ByteLevel pre-tokenizer and decoder): added tokens are split out first, the
/// rest is cut into words by the GPT-2 pattern (Gpt2PreTokenize), each word's
/// UTF-8 bytes become the printable characters of encoder.py's
/// `bytes_to_unicode()` and are merged by rank (RankedBpe). Any byte sequence,
/// also ill-formed UTF-8, encodes and decodes back exactly (unless it spells an
/// added token).
///
/// GPT-2 has no BOS: `Encode(text, /*add_bos=*/true)` adds nothing, as Hugging
/// Face's GPT-2 tokenizer does; bos_id() and eos_id() are both the id of
/// "<|endoftext|>" (50256) if the vocabulary has it, else -1.
class Gpt2Tokenizer final : public Tokenizer {
 public:
  /// Loads GPT-2's `vocab.json` (= `encoder.json`) and `merges.txt` (=
  /// `vocab.bpe`). "<|endoftext|>", if present, is a special added token.
  /// Errors: NOT_FOUND for a missing file; INVALID_ARGUMENT naming the file and
  /// entry for bad JSON, a bad merge line, a merge of unknown tokens, or a
  /// vocabulary lacking one of the 256 byte tokens.
  static absl::StatusOr<std::unique_ptr<Gpt2Tokenizer>> LoadVocabAndMerges(
      const std::string& vocab_json_path, const std::string& merges_path);

  /// Same as LoadVocabAndMerges, from the vocabulary (token → id) and the
  /// merges (pairs, best first) already read, e.g. from a GGUF file's
  /// `tokenizer.ggml.tokens` / `tokenizer.ggml.merges`; `name` is used in errors.
  static absl::StatusOr<std::unique_ptr<Gpt2Tokenizer>> FromVocabAndMerges(
      const std::vector<std::pair<std::string, int32_t>>& vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, std::string_view name);

  /// Loads a Hugging Face `tokenizer.json` whose model is BPE and whose
  /// pre-tokenizer is ByteLevel (options add_prefix_space, use_regex; the
  /// normalizer must be null). Errors as above, plus unsupported components.
  static absl::StatusOr<std::unique_ptr<Gpt2Tokenizer>> LoadTokenizerJson(const std::string& path);

  /// Same as LoadTokenizerJson, from the parsed JSON; `name` is used in errors.
  static absl::StatusOr<std::unique_ptr<Gpt2Tokenizer>> FromTokenizerJson(
      const nlohmann::json& root, std::string_view name);

  /// Never fails for a loaded tokenizer: every byte has a token.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool add_bos) const override;

  /// The token's bytes (byte-level characters mapped back to bytes); special
  /// added tokens and unknown ids give "". `prev_id` is not used.
  std::string TokenBytes(int32_t prev_id, int32_t id) const override;

  int32_t vocab_size() const override { return static_cast<int32_t>(token_bytes_.size()); }
  int32_t bos_id() const override { return endoftext_id_; }
  int32_t eos_id() const override { return endoftext_id_; }

  /// The added tokens recognized in input text.
  const std::vector<AddedToken>& added_tokens() const { return added_.tokens(); }

 private:
  struct Options {
    bool add_prefix_space = false;
    bool use_regex = true;
    bool ignore_merges = false;
  };
  Gpt2Tokenizer(RankedBpe bpe, Options options) : bpe_(std::move(bpe)), options_(options) {}

  /// Shared last step of the loaders: byte tables, added tokens, decode table.
  static absl::StatusOr<std::unique_ptr<Gpt2Tokenizer>> Finish(RankedBpe bpe, Options options,
                                                               std::vector<AddedToken> added,
                                                               std::string_view name);
  /// Appends the ids of one pre-tokenized word.
  void EncodeWord(std::string_view word, std::vector<int32_t>* out) const;

  RankedBpe bpe_;
  Options options_;
  AddedTokenSplitter added_;
  std::array<int32_t, 256> byte_ids_{};   // token of each single byte
  std::vector<std::string> token_bytes_;  // by id: what the token decodes to
  int32_t endoftext_id_ = -1;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_GPT2_TOKENIZER_H_
