#include "engine/primitives/quant_repack_q6k.h"

#include <cstring>

#include "engine/common/ggml_blocks.h"

namespace llmserve {
namespace {

// ggml's 6-bit q_p (0..63) of value p of a block (dequantize_row_q6_K: value
// 128 h + 32 k + l takes the low (k < 2) or high nibble of
// ql[64 h + l + 32 (k % 2)] and bits 2k, 2k + 1 of qh[32 h + l]).
int BlockQ6KValue(const BlockQ6_K& blk, int p) {
  const int h = p / 128, k = (p % 128) / 32, l = p % 32;
  const uint8_t lb = blk.ql[64 * h + l + 32 * (k % 2)];
  return (k < 2 ? lb & 0xF : lb >> 4) | (((blk.qh[32 * h + l] >> (2 * k)) & 3) << 4);
}

}  // namespace

void RepackQ6KGroup(const uint8_t* src, int64_t row_bytes, int rows, int64_t blocks,
                    int64_t d_offset, int64_t group_bytes, uint8_t* dst) {
  std::memset(dst, 0, static_cast<std::size_t>(group_bytes));
  uint16_t* d = reinterpret_cast<uint16_t*>(dst + d_offset);
  for (int i = 0; i < rows; ++i) {
    const BlockQ6_K* row = reinterpret_cast<const BlockQ6_K*>(src + i * row_bytes);
    for (int64_t b = 0; b < blocks; ++b) {
      const BlockQ6_K& blk = row[b];
      uint8_t* sb = dst + b * kQ6KSuperBlockBytes;
      for (int p = 0; p < kQKBlock; ++p) {
        const int q = BlockQ6KValue(blk, p), c = p / 4, t = p % 4;
        sb[64 * (c % 32) + 4 * i + t] |= static_cast<uint8_t>((q & 0xF) << (c < 32 ? 0 : 4));
        sb[kQ6KLoBytes + 64 * (c % 16) + 4 * i + t] |= static_cast<uint8_t>((q >> 4) << (2 * (c / 16)));
      }
      for (int s = 0; s < kQKBlock / 16; ++s) {
        sb[kQ6KLoBytes + kQ6KHiBytes + 16 * s + i] = static_cast<uint8_t>(blk.scales[s]);
      }
      d[16 * b + i] = blk.d;
    }
  }
}

void DequantizeQ6KGroupRows(const uint8_t* gp, int64_t blocks, int64_t d_offset, int lo, int hi,
                            float* dst) {
  const uint16_t* d = reinterpret_cast<const uint16_t*>(gp + d_offset);
  const int64_t in = blocks * kQKBlock;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* sb = gp + b * kQ6KSuperBlockBytes;
    for (int i = lo; i < hi; ++i) {
      // ggml's dequantize_row_q6_K computes (d · scale) · (q − 32) in f32.
      float dsc[kQKBlock / 16];
      const float di = HalfToFloat(d[16 * b + i]);
      for (int s = 0; s < kQKBlock / 16; ++s) dsc[s] = di * static_cast<float>(PackedQ6KScale(sb, i, s));
      float* y = dst + (i - lo) * in + kQKBlock * b;
      for (int q = 0; q < 4; ++q) {  // V_{16q + n}: PackedQ6KValue unrolled, constant shifts
        const int lshift = q < 2 ? 0 : 4;
        for (int n = 0; n < 16; ++n) {
          const int c = 16 * q + n;
          const uint8_t* l = sb + 64 * (16 * (q % 2) + n) + 4 * i;
          const uint8_t* h = sb + kQ6KLoBytes + 64 * n + 4 * i;
          for (int t = 0; t < 4; ++t) {
            const int v = ((l[t] >> lshift) & 0xF) | (((h[t] >> (2 * q)) & 3) << 4);
            y[4 * c + t] = dsc[c / 4] * static_cast<float>(v - 32);
          }
        }
      }
    }
  }
}

}  // namespace llmserve
