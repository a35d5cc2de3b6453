#ifndef LLMSERVE_ENGINE_TOKENIZER_BYTE_PIECE_H_
#define LLMSERVE_ENGINE_TOKENIZER_BYTE_PIECE_H_

#include <string_view>

namespace llmserve {

/// The byte that a SentencePiece byte-fallback piece "<0xXX>" (exactly six
/// characters, two hex digits of either case) stands for, or -1 if `piece` is
/// not one. Used by llama2.c `tokenizer.bin` and Hugging Face `byte_fallback`.
inline int ParseBytePiece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]);
  const int lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_BYTE_PIECE_H_
