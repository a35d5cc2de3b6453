#ifndef LLMSERVE_ENGINE_PRIMITIVES_QUANT_REPACK_Q6K_H_
#define LLMSERVE_ENGINE_PRIMITIVES_QUANT_REPACK_Q6K_H_

#include <cstdint>

namespace llmserve {

/// The row-interleaved ("r16") layout of Q6_K weights [out, in] (own design;
/// the Q6_K member of quant_repack.h's family). Source format: ggml's
/// block_q6_K (llama.cpp ggml/src/ggml-common.h; ggml_blocks.h BlockQ6_K):
/// per super-block of 256 values, ql[128] (low 4 bits), qh[64] (high 2 bits),
/// 16 int8 sub-block scales (16 values each) and an f16 d; value p (0..255)
/// is x = d · scales[p / 16] · (q_p − 32) with the 6-bit q_p of
/// ggml's dequantize_row_q6_K.
///
/// Rows are taken in groups of 16 (the last padded with all-zero rows). Think
/// of 64 "value vectors" V_c per group and super-block (c < 64): byte 4 i + t
/// of V_c is q_{4c+t} of row i (i < 16, t < 4), so a u8 × s8 dot of V_c with
/// 4 activation bytes broadcast gives all 16 rows' sums in int32 lanes, and
/// V_{4s} .. V_{4s+3} are sub-block s. A group holds, per super-block b (at
/// b · kQ6KSuperBlockBytes, a multiple of 64):
///  * lo: 32 vectors L_m of 64 B: byte 4 i + t holds the low 4 bits of
///    V_m's byte in its low nibble and those of V_{m+32} in its high nibble;
///  * hi: 16 vectors H_n of 64 B: bits 2j, 2j+1 of byte 4 i + t hold the high
///    2 bits of V_{n+16j}'s byte (j < 4) — ggml's own ql / qh split, so
///    V_n = L_n & 15 | (H_n << 4) & 48, V_{n+16} = L_{n+16} & 15 | (H_n << 2) & 48,
///    V_{n+32} = L_n >> 4 | H_n & 48, V_{n+48} = L_{n+16} >> 4 | (H_n >> 2) & 48;
///  * scales: 16 × 16 int8, sub-block s's 16 rows' scales at 16 s (one
///    sign-extending load gives 16 int32 lanes);
/// and after the nb super-blocks, nb × 16 f16 d (super-block b's 16 rows' d at
/// 32 b), then zero padding to a multiple of 64 bytes. Every byte of the
/// original blocks is kept (re-encoded bit for bit): 16 rows × 210 B per
/// super-block = 3328 + 32 B, so the layout takes the file's size.
inline constexpr int64_t kQ6KLoBytes = 2048;        // 32 × 64 B
inline constexpr int64_t kQ6KHiBytes = 1024;        // 16 × 64 B
inline constexpr int64_t kQ6KScaleBytes = 256;      // 16 sub-blocks × 16 rows
inline constexpr int64_t kQ6KSuperBlockBytes = kQ6KLoBytes + kQ6KHiBytes + kQ6KScaleBytes;

/// q_p (0..63, before the −32 offset) of row i (< 16) at value p (< 256) of
/// the packed super-block at `sb` (group base + b · kQ6KSuperBlockBytes).
inline int PackedQ6KValue(const uint8_t* sb, int i, int p) {
  const int c = p / 4, t = p % 4;
  const uint8_t lo = sb[64 * (c % 32) + 4 * i + t];
  const uint8_t hi = sb[kQ6KLoBytes + 64 * (c % 16) + 4 * i + t];
  return ((c < 32 ? lo : lo >> 4) & 0xF) | (((hi >> (2 * (c / 16))) & 3) << 4);
}

/// The int8 scale of sub-block s (< 16) of row i in the packed super-block at `sb`.
inline int8_t PackedQ6KScale(const uint8_t* sb, int i, int s) {
  return static_cast<int8_t>(sb[kQ6KLoBytes + kQ6KHiBytes + 16 * s + i]);
}

/// Writes one packed group (`group_bytes` at dst; `blocks` super-blocks per
/// row, the d's at dst + d_offset) from `rows` (≤ 16) rows of ggml Q6_K blocks
/// (row i at src + i · row_bytes); rows ≥ `rows` are zero.
void RepackQ6KGroup(const uint8_t* src, int64_t row_bytes, int rows, int64_t blocks,
                    int64_t d_offset, int64_t group_bytes, uint8_t* dst);

/// Dequantizes rows lo..hi − 1 (< 16) of the packed group at `gp` into dst
/// (row lo first, `blocks` · 256 floats apart), exactly as ggml's
/// dequantize_row_q6_K of the original rows: d · scale · (q − 32) in f32.
void DequantizeQ6KGroupRows(const uint8_t* gp, int64_t blocks, int64_t d_offset, int lo, int hi,
                            float* dst);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_QUANT_REPACK_Q6K_H_
