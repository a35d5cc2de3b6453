#ifndef LLMSERVE_ENGINE_PRIMITIVES_QUANT_REPACK_H_
#define LLMSERVE_ENGINE_PRIMITIVES_QUANT_REPACK_H_

#include <cstdint>

#include "engine/common/dtype.h"

namespace llmserve {

/// Output rows per group of the row-interleaved ("r16") layout of Q8_0 / Q4_0
/// / Q4_K / Q6_K weights: one 512-bit vector holds 4 bytes of each of 16 rows.
inline constexpr int kPackRows = 16;

/// The row-interleaved layout of Q8_0 / Q4_0 weights [out, in] (own design,
/// the analogue of blocked_gemv.h's bf16 layout for ggml's blocks of 32;
/// ggml_blocks.h). Rows are taken in groups of 16 (the last group padded with
/// zero-scale rows); a group is `group_bytes` long (a multiple of 64) and
/// holds, for nb = in / 32 blocks:
///  * quants: nb blocks of 16 · 32 (Q8_0) or 16 · 16 (Q4_0) bytes; in block b,
///    byte 64 c + 4 i + t is byte 4 c + t of row i's block b `qs` (c < 8 for
///    Q8_0, < 4 for Q4_0; t < 4). Q8_0 bytes are stored as u8 = q + 128
///    (q XOR 0x80); Q4_0 bytes are ggml's (value k in the low nibble, value
///    k + 16 in the high nibble of qs[k]). So one 64-byte vector c holds 4
///    consecutive values of 16 rows: a u8 × s8 dot with 4 activation bytes
///    broadcast accumulates 16 rows' partial sums in 16 int32 lanes.
///  * scales: after the quants, nb × 16 f16 `d` (block b's 16 rows' scales
///    at 32 b bytes).
/// The layout has the bytes of the original blocks (plus padding): it is a
/// permutation, so a model's weights take the file's size.
///
/// Q6_K / Q4_K (super-blocks of 256): the same 16-row groups, each
/// super-block's values interleaved 4 per row in 64-byte vectors (Q4_K as
/// Q4_0's nibbles, Q6_K as 6-bit fields in 3 bytes per 4 values), then its
/// sub-block scales (and Q4_K's mins) per 16
/// rows; the f16 d's (and dmins) after the quants (quant_repack_q6k.h,
/// quant_repack_q4k.h have the byte layouts; Q4_K's unpacked 6-bit scales
/// make it 2.8 % larger than the file's blocks).
struct PackedQuantLayout {
  DType type = DType::kQ8_0;
  int64_t in = 0, out = 0;
  int64_t blocks = 0;       // nb = in / 32 (in / 256 for Q6_K, Q4_K)
  /// Bytes of one block of a group before the d's: 512 (Q8_0), 256 (Q4_0),
  /// 3328 (Q6_K: quants and int8 sub-block scales), 2304 (Q4_K: quants,
  /// scales and mins).
  int64_t block_bytes = 0;
  int64_t scales_offset = 0;  // of the f16 d's in a group: nb · block_bytes
  int64_t group_bytes = 0;
  int64_t groups = 0;  // ceil(out / 16)

  int64_t total_bytes() const { return groups * group_bytes; }
};

/// The layout for `type` (kQ8_0, kQ4_0, kQ4_K or kQ6_K) and [out, in] (in a
/// multiple of 32, or of 256 for the K-quants).
PackedQuantLayout PackedLayoutFor(DType type, int64_t out, int64_t in);

/// Writes groups [g0, g1) of the packed layout into `dst` (layout.total_bytes()
/// bytes in all) from `out` rows of ggml blocks (row o at src + o · row_bytes).
void RepackQuantGroups(const PackedQuantLayout& layout, const uint8_t* src, int64_t row_bytes,
                       int64_t g0, int64_t g1, uint8_t* dst);

/// Dequantizes row `o` (< layout.out) of the packed weights at `packed` into
/// dst[in] (f32), the same values as ggml's dequantize_row_q8_0 / _q4_0 of
/// the original row (_q4_K, _q6_K for the K-quants).
void DequantizePackedRow(const PackedQuantLayout& layout, const uint8_t* packed, int64_t o,
                         float* dst);

/// Rows [o0, o1) (≤ layout.out) into dst[o1 − o0, in], as DequantizePackedRow
/// each, reading each group's bytes once in order (for the prefill tiles).
void DequantizePackedRows(const PackedQuantLayout& layout, const uint8_t* packed, int64_t o0,
                          int64_t o1, float* dst);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_QUANT_REPACK_H_
