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
        const int q = BlockQ6KValue(blk, p), k = (p % 16) / 4;
        uint8_t* plane = sb + kQ6KSubBlockBytes * (p / 16) + 4 * i + p % 4;
        if (k < 3) {
          plane[64 * k] |= static_cast<uint8_t>(q);
        } else {  // bits 0-1, 2-3, 4-5 into the top 2 bits of P_0, P_1, P_2
          for (int m = 0; m < 3; ++m) plane[64 * m] |= static_cast<uint8_t>(((q >> (2 * m)) & 3) << 6);
        }
      }
      for (int s = 0; s < kQKBlock / 16; ++s) {
        sb[kQ6KQuantBytes + 16 * s + i] = static_cast<uint8_t>(blk.scales[s]);
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
      for (int s = 0; s < kQKBlock / 16; ++s) {
        const uint8_t* plane = sb + kQ6KSubBlockBytes * s + 4 * i;
        for (int t = 0; t < 4; ++t) {
          const uint8_t p0 = plane[t], p1 = plane[64 + t], p2 = plane[128 + t];
          float* out = y + 16 * s + t;  // values 16 s + 4 k + t, k < 4
          out[0] = dsc[s] * static_cast<float>((p0 & 63) - 32);
          out[4] = dsc[s] * static_cast<float>((p1 & 63) - 32);
          out[8] = dsc[s] * static_cast<float>((p2 & 63) - 32);
          out[12] = dsc[s] * static_cast<float>(((p0 >> 6) | ((p1 >> 6) << 2) | ((p2 >> 6) << 4)) - 32);
        }
      }
    }
  }
}

}  // namespace llmserve
