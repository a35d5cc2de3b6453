#ifndef LLMSERVE_ENGINE_PRIMITIVES_QUANT_REPACK_Q4K_H_
#define LLMSERVE_ENGINE_PRIMITIVES_QUANT_REPACK_Q4K_H_

#include <cstdint>

namespace llmserve {

/// The row-interleaved ("r16") layout of Q4_K weights [out, in] (own design;
/// the Q4_K member of quant_repack.h's family). Source format: ggml's
/// block_q4_K (llama.cpp ggml/src/ggml-common.h; ggml_blocks.h BlockQ4_K):
/// per super-block of 256 values, f16 d and dmin, 8 sub-blocks of 32 values
/// with a 6-bit scale sc_s and min m_s packed in 12 bytes (ggml's
/// get_scale_min_k4, Q4KScaleMin), and 128 bytes of nibbles; value p is
/// x = d · sc_{p/32} · q_p − dmin · m_{p/32}.
///
/// Rows are taken in groups of 16 (the last padded with all-zero rows). With
/// "value vectors" V_c (c < 64) as in quant_repack_q6k.h (byte 4 i + t of V_c
/// is q_{4c+t} of row i; sub-block s is V_{8s} .. V_{8s+7}), a group holds,
/// per super-block b (at b · kQ4KSuperBlockBytes, a multiple of 64):
///  * quants: 32 vectors N_m of 64 B: byte 4 i + t holds V_m's byte in its
///    low nibble and V_{m+32}'s in its high nibble (Q4_0's r16 arrangement);
///  * scales: 8 × 16 bytes, sub-block s's 16 rows' 6-bit sc_s at 16 s;
///  * mins: 4 × 32 bytes, pair k: byte 2 i + e is m_{2k+e} of row i (a
///    zero-extending load gives 16 int32 lanes of int16 pairs for vpmaddwd);
/// and after the nb super-blocks, per super-block 16 f16 d then 16 f16 dmin
/// (64 B at 64 b), then zero padding to a multiple of 64 bytes. The 6-bit
/// scales and mins are stored unpacked, one byte each: 16 B per row and
/// super-block instead of ggml's 12, so the layout is 2.8 % larger than the
/// file's blocks (2368 vs 2304 B per 16 rows × 256 values).
inline constexpr int64_t kQ4KQuantBytes = 2048;   // 32 × 64 B
inline constexpr int64_t kQ4KScaleBytes = 128;    // 8 sub-blocks × 16 rows
inline constexpr int64_t kQ4KMinBytes = 128;      // 4 pairs × 16 rows × 2
inline constexpr int64_t kQ4KSuperBlockBytes = kQ4KQuantBytes + kQ4KScaleBytes + kQ4KMinBytes;
/// Bytes of d and dmin per super-block (16 rows × 2 × f16).
inline constexpr int64_t kQ4KDBytes = 64;

/// q_p (0..15) of row i (< 16) at value p (< 256) of the packed super-block at `sb`.
inline int PackedQ4KValue(const uint8_t* sb, int i, int p) {
  const int c = p / 4;
  const uint8_t v = sb[64 * (c % 32) + 4 * i + p % 4];
  return c < 32 ? v & 0xF : v >> 4;
}

/// The 6-bit scale of sub-block s (< 8) of row i in the packed super-block at `sb`.
inline int PackedQ4KScale(const uint8_t* sb, int i, int s) { return sb[kQ4KQuantBytes + 16 * s + i]; }

/// The 6-bit min of sub-block s (< 8) of row i in the packed super-block at `sb`.
inline int PackedQ4KMin(const uint8_t* sb, int i, int s) {
  return sb[kQ4KQuantBytes + kQ4KScaleBytes + 32 * (s / 2) + 2 * i + s % 2];
}

/// Writes one packed group (`group_bytes` at dst; `blocks` super-blocks per
/// row, the d's at dst + d_offset) from `rows` (≤ 16) rows of ggml Q4_K blocks
/// (row i at src + i · row_bytes); rows ≥ `rows` are zero.
void RepackQ4KGroup(const uint8_t* src, int64_t row_bytes, int rows, int64_t blocks,
                    int64_t d_offset, int64_t group_bytes, uint8_t* dst);

/// Dequantizes rows lo..hi − 1 (< 16) of the packed group at `gp` into dst
/// (row lo first, `blocks` · 256 floats apart), exactly as ggml's
/// dequantize_row_q4_K of the original rows: (d · sc) · q − dmin · m in f32.
void DequantizeQ4KGroupRows(const uint8_t* gp, int64_t blocks, int64_t d_offset, int lo, int hi,
                            float* dst);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_QUANT_REPACK_Q4K_H_
