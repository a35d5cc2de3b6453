#ifndef LLMSERVE_ENGINE_TOKENIZER_LLAMA2C_TOKENIZER_H_
#define LLMSERVE_ENGINE_TOKENIZER_LLAMA2C_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace llmserve {

/// The tokenizer of Karpathy's llama2.c (`tokenizer.bin`, written by its
/// tokenizer.py from a SentencePiece model): score-ordered BPE over UTF-8 code
/// points with byte fallback, as in llama2.c `run.c` `encode()` / `decode()`.
///
/// File format (little-endian): int32 max_token_length, then per token: float32
/// score, int32 length, `length` bytes of the piece (SentencePiece's "▁" already
/// replaced by ' '). Ids 0, 1, 2 are <unk>, BOS, EOS; ids 3..258 are the byte
/// pieces "<0x00>".."<0xFF>".
///
/// Deliberate differences from run.c, none of which change the result for valid
/// UTF-8 and real vocabularies: ill-formed UTF-8 is handled byte by byte (see
/// Encode); the special pieces (ids 0-2) and "<0xXX>" byte pieces are never
/// matched against text or produced by merges (run.c would if the text spelled
/// them and the intermediate pieces existed, breaking the round trip); BOS takes
/// no part in merges; a missing " " piece falls back to its byte token (run.c
/// would emit id -1); a piece listed twice resolves to its first id; merging is
/// O(n log n) (see ApplyBpeMerges) instead of O(n^2).
class Llama2cTokenizer final : public Tokenizer {
 public:
  static constexpr int32_t kUnkId = 0;
  static constexpr int32_t kBosId = 1;
  static constexpr int32_t kEosId = 2;
  /// Byte b is token b + kByteOffset ("<0xXX>").
  static constexpr int32_t kByteOffset = 3;

  /// Reads a llama2.c `tokenizer.bin`. `vocab_size` is the number of tokens to
  /// read (the model's vocab_size, as run.c does), or -1 to read to the end of
  /// the file. Errors: NOT_FOUND if the file is missing; INVALID_ARGUMENT naming
  /// the file, token index and byte offset for a truncated file, a negative or
  /// too large length (beyond max_token_length or the file), a NaN score, bytes
  /// left over after `vocab_size` tokens, fewer than 3 tokens, or an llm.c
  /// tokenizer file (recognized by its magic number).
  static absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> Load(const std::string& path,
                                                                int32_t vocab_size = -1);

  /// Same as Load, from the file's bytes; `name` is used in error messages.
  static absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> FromBytes(std::string_view bytes,
                                                                     int32_t vocab_size,
                                                                     std::string_view name);

  /// run.c `encode()`: [BOS if add_bos], then, for non-empty text, the " " piece
  /// (dummy prefix), one token per UTF-8 character or its bytes as
  /// byte-fallback tokens if the character is not a piece, then greedy merges
  /// by the merged piece's score (> -1e10, first pair on ties). Ill-formed
  /// UTF-8 never fails: each of its bytes is a byte-fallback token of its own
  /// (run.c would group a stray continuation byte with the character before
  /// it and byte-fall-back both).
  /// Errors: INVALID_ARGUMENT if a byte needs a fallback token the vocabulary
  /// lacks (fewer than 259 tokens).
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool add_bos) const override;

  /// run.c `decode()`: the piece, without its leading ' ' after BOS; "<0xXX>"
  /// pieces are the raw byte; BOS/EOS and unknown ids give "".
  std::string TokenBytes(int32_t prev_id, int32_t id) const override;

  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const override { return kBosId; }
  int32_t eos_id() const override { return kEosId; }

  /// The stored piece of `id` (empty for ids out of range).
  std::string_view piece(int32_t id) const;
  /// The stored score of `id` (0 for ids out of range).
  float score(int32_t id) const;
  /// The header's max_token_length.
  int32_t max_token_length() const { return max_token_length_; }

 private:
  Llama2cTokenizer() = default;

  int32_t max_token_length_ = 0;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  /// Byte value of each "<0xXX>" piece, -1 for other pieces.
  std::vector<int16_t> byte_values_;
  /// Piece → first id, without the special and byte pieces.
  absl::flat_hash_map<std::string, int32_t> ids_;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_LLAMA2C_TOKENIZER_H_
