#include "engine/primitives/quant_repack_q4k.h"

#include <cstring>

#include "engine/common/ggml_blocks.h"

namespace llmserve {

void RepackQ4KGroup(const uint8_t* src, int64_t row_bytes, int rows, int64_t blocks,
                    int64_t d_offset, int64_t group_bytes, uint8_t* dst) {
  std::memset(dst, 0, static_cast<std::size_t>(group_bytes));
  for (int i = 0; i < rows; ++i) {
    const BlockQ4_K* row = reinterpret_cast<const BlockQ4_K*>(src + i * row_bytes);
    for (int64_t b = 0; b < blocks; ++b) {
      const BlockQ4_K& blk = row[b];
      uint8_t* sb = dst + b * kQ4KSuperBlockBytes;
      for (int p = 0; p < kQKBlock; ++p) {
        // ggml: value 64 j + l is the low nibble of qs[32 j + l], 64 j + 32 + l the high one.
        const int j = p / 64, l = p % 32;
        const uint8_t byte = blk.qs[32 * j + l];
        const int q = (p % 64) < 32 ? byte & 0xF : byte >> 4;
        const int c = p / 4;
        sb[64 * (c % 32) + 4 * i + p % 4] |= static_cast<uint8_t>(q << (c < 32 ? 0 : 4));
      }
      for (int s = 0; s < 8; ++s) {
        uint8_t sc, m;
        Q4KScaleMin(s, blk.scales, &sc, &m);
        sb[kQ4KQuantBytes + 16 * s + i] = sc;
        sb[kQ4KQuantBytes + kQ4KScaleBytes + 32 * (s / 2) + 2 * i + s % 2] = m;
      }
      uint8_t* d = dst + d_offset + kQ4KDBytes * b;
      std::memcpy(d + 2 * i, &blk.d, 2);
      std::memcpy(d + 32 + 2 * i, &blk.dmin, 2);
    }
  }
}

void DequantizeQ4KGroupRows(const uint8_t* gp, int64_t blocks, int64_t d_offset, int lo, int hi,
                            float* dst) {
  const int64_t in = blocks * kQKBlock;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* sb = gp + b * kQ4KSuperBlockBytes;
    const uint16_t* d = reinterpret_cast<const uint16_t*>(gp + d_offset + kQ4KDBytes * b);
    for (int i = lo; i < hi; ++i) {
      const float di = HalfToFloat(d[i]), dmin = HalfToFloat(d[16 + i]);
      float* y = dst + (i - lo) * in + kQKBlock * b;
      for (int s = 0; s < 8; ++s) {
        // ggml's dequantize_row_q4_K: (d · sc) · q − dmin · m.
        const float d1 = di * static_cast<float>(PackedQ4KScale(sb, i, s));
        const float m1 = dmin * static_cast<float>(PackedQ4KMin(sb, i, s));
        const int shift = s < 4 ? 0 : 4;
        for (int c = 8 * (s % 4); c < 8 * (s % 4) + 8; ++c) {
          const uint8_t* v = sb + 64 * c + 4 * i;
          for (int t = 0; t < 4; ++t) {
            y[32 * s + 4 * (c - 8 * (s % 4)) + t] = d1 * static_cast<float>((v[t] >> shift) & 0xF) - m1;
          }
        }
      }
    }
  }
}

}  // namespace llmserve
