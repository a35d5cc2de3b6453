#ifndef LLMSERVE_ENGINE_TOKENIZER_INCREMENTAL_DETOKENIZER_H_
#define LLMSERVE_ENGINE_TOKENIZER_INCREMENTAL_DETOKENIZER_H_

#include <cstdint>
#include <string>

#include "engine/tokenizer/tokenizer.h"

namespace llmserve {

/// Streaming detokenization of generated tokens into valid UTF-8 text (what
/// protobuf string fields require).
///
/// Tokens decode to raw bytes (Tokenizer::TokenBytes) that may split a UTF-8
/// character, e.g. an emoji as four byte-fallback tokens. Push() returns only
/// complete characters and holds back an incomplete trailing sequence (at most
/// 3 bytes) until a later token completes it; ill-formed bytes become U+FFFD,
/// one per maximal subpart (see DecodeUtf8). Hence, for every token sequence,
///   Push(id_1) + ... + Push(id_n) + Flush()
///     == SanitizeUtf8(TokenBytes(prev_token, id_1) + ... + TokenBytes(id_{n-1}, id_n)).
/// Not thread-safe; one per output stream. The tokenizer must outlive it.
class IncrementalDetokenizer {
 public:
  /// `prev_token` is the token before the first pushed one (the last prompt
  /// token; -1 for none): it decides e.g. whether the first piece's leading
  /// space is stripped after BOS.
  IncrementalDetokenizer(const Tokenizer& tokenizer, int32_t prev_token);

  /// Appends token `id` and returns the text completed by it (possibly empty).
  std::string Push(int32_t id);

  /// Returns the held-back bytes of an incomplete character as U+FFFD (or ""),
  /// e.g. when generation ends; the detokenizer can be used on afterwards.
  std::string Flush();

  /// Number of bytes currently held back (0..3).
  std::size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer& tokenizer_;
  int32_t prev_token_;
  std::string pending_;  // a proper prefix of a well-formed UTF-8 sequence
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_INCREMENTAL_DETOKENIZER_H_
