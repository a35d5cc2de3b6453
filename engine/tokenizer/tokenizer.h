#ifndef LLMSERVE_ENGINE_TOKENIZER_TOKENIZER_H_
#define LLMSERVE_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace llmserve {

/// Text ↔ token ids. Implementations: llama2.c `tokenizer.bin` (SentencePiece-style
/// BPE with byte fallback), GPT-2 byte-level BPE (`vocab.json` + `merges.txt` or
/// `tokenizer.json`), Hugging Face `tokenizer.json` for Llama-family models.
///
/// Decoding is defined per token so it can be streamed: the text of a sequence is
/// the concatenation of `TokenBytes(prev, id)` over its tokens, as raw bytes that
/// may split a UTF-8 character across tokens (see IncrementalDetokenizer).
/// Thread-safe for concurrent const use.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  /// Encodes `text` (any bytes; invalid UTF-8 must not crash: it is encoded via
  /// byte fallback or replaced) and prepends BOS when `add_bos` and the
  /// tokenizer has one. Errors: INVALID_ARGUMENT if the text cannot be encoded.
  virtual absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool add_bos) const = 0;

  /// The bytes that token `id` contributes to the text when it follows `prev_id`
  /// (-1 for none). Special tokens (BOS/EOS) contribute nothing. Ids outside the
  /// vocabulary contribute nothing.
  virtual std::string TokenBytes(int32_t prev_id, int32_t id) const = 0;

  /// Decodes a whole sequence: concatenation of TokenBytes over `ids`
  /// (invalid UTF-8 is kept as is).
  std::string Decode(absl::Span<const int32_t> ids) const {
    std::string out;
    int32_t prev = -1;
    for (int32_t id : ids) {
      out += TokenBytes(prev, id);
      prev = id;
    }
    return out;
  }

  /// Number of token ids (ids are 0 .. vocab_size()-1).
  virtual int32_t vocab_size() const = 0;
  /// Beginning-of-sequence id, or -1.
  virtual int32_t bos_id() const = 0;
  /// End-of-sequence id, or -1.
  virtual int32_t eos_id() const = 0;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_TOKENIZER_H_
