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
///  * quants: per sub-block s (at kQ6KSubBlockBytes · s) three 64-byte planes
///    P_0, P_1, P_2: bits 0-5 of P_k's byte 4 i + t are V_{4s+k}'s byte, and
///    bits 6-7 of P_0, P_1, P_2 hold bits 0-1, 2-3, 4-5 of V_{4s+3}'s byte
///    (6 bits per value, as ggml's ql / qh; three ANDs give V_{4s} .. V_{4s+2},
///    a few shifts and bit selects V_{4s+3});
///  * scales: 16 × 16 int8, sub-block s's 16 rows' scales at 16 s (one
///    sign-extending load gives 16 int32 lanes);
/// and after the nb super-blocks, nb × 16 f16 d (super-block b's 16 rows' d at
/// 32 b), then zero padding to a multiple of 64 bytes. Every bit of the
/// original blocks is kept (re-encoded): 16 rows × 210 B per super-block =
/// 3328 + 32 B, so the layout takes the file's size.
inline constexpr int64_t kQ6KSubBlockBytes = 192;  // 3 planes × 64 B
inline constexpr int64_t kQ6KQuantBytes = 16 * kQ6KSubBlockBytes;
inline constexpr int64_t kQ6KScaleBytes = 256;  // 16 sub-blocks × 16 rows
inline constexpr int64_t kQ6KSuperBlockBytes = kQ6KQuantBytes + kQ6KScaleBytes;

/// q_p (0..63, before the −32 offset) of row i (< 16) at value p (< 256) of
/// the packed super-block at `sb` (group base + b · kQ6KSuperBlockBytes).
inline int PackedQ6KValue(const uint8_t* sb, int i, int p) {
  const uint8_t* plane = sb + kQ6KSubBlockBytes * (p / 16) + 4 * i + p % 4;
  const int k = (p % 16) / 4;
  if (k < 3) return plane[64 * k] & 63;
  return (plane[0] >> 6) | ((plane[64] >> 6) << 2) | ((plane[128] >> 6) << 4);
}

/// The int8 scale of sub-block s (< 16) of row i in the packed super-block at `sb`.
inline int8_t PackedQ6KScale(const uint8_t* sb, int i, int s) {
  return static_cast<int8_t>(sb[kQ6KQuantBytes + 16 * s + i]);
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
