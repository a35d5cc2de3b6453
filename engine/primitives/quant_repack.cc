#include "engine/primitives/quant_repack.h"

#include <algorithm>
#include <cstring>

#include "engine/common/ggml_blocks.h"
#include "engine/primitives/quant_repack_q4k.h"
#include "engine/primitives/quant_repack_q6k.h"

namespace llmserve {

PackedQuantLayout PackedLayoutFor(DType type, int64_t out, int64_t in) {
  PackedQuantLayout l;
  l.type = type;
  l.in = in;
  l.out = out;
  l.groups = (out + kPackRows - 1) / kPackRows;
  if (type == DType::kQ6_K) {
    l.blocks = in / kQKBlock;
    l.block_bytes = kQ6KSuperBlockBytes;
    l.scales_offset = l.blocks * l.block_bytes;
    l.group_bytes = (l.scales_offset + l.blocks * kPackRows * 2 + 63) / 64 * 64;
    return l;
  }
  if (type == DType::kQ4_K) {
    l.blocks = in / kQKBlock;
    l.block_bytes = kQ4KSuperBlockBytes;
    l.scales_offset = l.blocks * l.block_bytes;
    l.group_bytes = l.scales_offset + l.blocks * kQ4KDBytes;  // a multiple of 64
    return l;
  }
  l.blocks = in / kQBlock;
  l.block_bytes = kPackRows * (type == DType::kQ8_0 ? kQBlock : kQBlock / 2);
  l.scales_offset = l.blocks * l.block_bytes;
  l.group_bytes = (l.scales_offset + l.blocks * kPackRows * 2 + 63) / 64 * 64;
  return l;
}

void RepackQuantGroups(const PackedQuantLayout& l, const uint8_t* src, int64_t row_bytes,
                       int64_t g0, int64_t g1, uint8_t* dst) {
  if (l.type == DType::kQ6_K || l.type == DType::kQ4_K) {
    for (int64_t g = g0; g < g1; ++g) {
      const int rows = static_cast<int>(std::min<int64_t>(kPackRows, l.out - g * kPackRows));
      const auto repack = l.type == DType::kQ6_K ? RepackQ6KGroup : RepackQ4KGroup;
      repack(src + g * kPackRows * row_bytes, row_bytes, rows, l.blocks, l.scales_offset, l.group_bytes,
             dst + g * l.group_bytes);
    }
    return;
  }
  const bool q8 = l.type == DType::kQ8_0;
  const int qbytes = q8 ? kQBlock : kQBlock / 2;
  const int64_t src_block = q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* gp = dst + g * l.group_bytes;
    std::memset(gp, 0, l.group_bytes);  // padding rows: zero quants and scales
    uint16_t* scales = reinterpret_cast<uint16_t*>(gp + l.scales_offset);
    for (int i = 0; i < kPackRows; ++i) {
      const int64_t o = g * kPackRows + i;
      if (o >= l.out) break;
      const uint8_t* row = src + o * row_bytes;
      for (int64_t b = 0; b < l.blocks; ++b) {
        const uint8_t* blk = row + b * src_block;  // {f16 d; qs[qbytes]}
        std::memcpy(&scales[b * kPackRows + i], blk, 2);
        uint8_t* q = gp + b * l.block_bytes + 4 * i;
        for (int c = 0; c < qbytes / 4; ++c) {
          for (int t = 0; t < 4; ++t) {
            const uint8_t v = blk[2 + 4 * c + t];
            q[64 * c + t] = q8 ? static_cast<uint8_t>(v ^ 0x80) : v;
          }
        }
      }
    }
  }
}

namespace {

// Row i of one packed group: 4 values of each 64-byte vector per block.
template <bool kQ8>
void DequantizeGroupRow(const PackedQuantLayout& l, const uint8_t* gp, int i, float* dst) {
  const uint16_t* scales = reinterpret_cast<const uint16_t*>(gp + l.scales_offset);
  for (int64_t b = 0; b < l.blocks; ++b, dst += kQBlock) {
    const float d = HalfToFloat(scales[b * kPackRows + i]);
    const uint8_t* q = gp + b * l.block_bytes + 4 * i;
    if constexpr (kQ8) {
      for (int c = 0; c < 8; ++c) {
        for (int t = 0; t < 4; ++t) dst[4 * c + t] = d * static_cast<float>(q[64 * c + t] - 128);
      }
    } else {
      for (int c = 0; c < 4; ++c) {
        for (int t = 0; t < 4; ++t) {
          const uint8_t v = q[64 * c + t];
          dst[4 * c + t] = d * static_cast<float>((v & 0xF) - 8);
          dst[16 + 4 * c + t] = d * static_cast<float>((v >> 4) - 8);
        }
      }
    }
  }
}

// Rows lo..hi − 1 of one group (dst: row lo first, `in` apart), block by
// block, each 64-byte vector read once.
template <bool kQ8>
void DequantizeGroupRows(const PackedQuantLayout& l, const uint8_t* gp, int lo, int hi, float* dst) {
  const uint16_t* scales = reinterpret_cast<const uint16_t*>(gp + l.scales_offset);
  for (int64_t b = 0; b < l.blocks; ++b) {
    float d[kPackRows];
    for (int i = lo; i < hi; ++i) d[i] = HalfToFloat(scales[b * kPackRows + i]);
    const uint8_t* q = gp + b * l.block_bytes;
    for (int i = lo; i < hi; ++i) {  // the block's 32 values of row i, contiguous
      float* out = dst + (i - lo) * l.in + kQBlock * b;
      for (int c = 0; c < (kQ8 ? 8 : 4); ++c) {
        const uint8_t* v = q + 64 * c + 4 * i;
        for (int t = 0; t < 4; ++t) {
          if constexpr (kQ8) {
            out[4 * c + t] = d[i] * static_cast<float>(v[t] - 128);
          } else {
            out[4 * c + t] = d[i] * static_cast<float>((v[t] & 0xF) - 8);
            out[4 * c + t + 16] = d[i] * static_cast<float>((v[t] >> 4) - 8);
          }
        }
      }
    }
  }
}

}  // namespace

void DequantizePackedRows(const PackedQuantLayout& l, const uint8_t* packed, int64_t o0, int64_t o1,
                          float* dst) {
  for (int64_t o = o0; o < o1;) {
    const int64_t g = o / kPackRows;
    const int lo = static_cast<int>(o - g * kPackRows);
    const int hi = static_cast<int>(std::min<int64_t>(kPackRows, o1 - g * kPackRows));
    const uint8_t* gp = packed + g * l.group_bytes;
    float* out = dst + (o - o0) * l.in;
    if (l.type == DType::kQ6_K) {
      DequantizeQ6KGroupRows(gp, l.blocks, l.scales_offset, lo, hi, out);
    } else if (l.type == DType::kQ4_K) {
      DequantizeQ4KGroupRows(gp, l.blocks, l.scales_offset, lo, hi, out);
    } else if (l.type == DType::kQ8_0) {
      DequantizeGroupRows<true>(l, gp, lo, hi, out);
    } else {
      DequantizeGroupRows<false>(l, gp, lo, hi, out);
    }
    o = g * kPackRows + hi;
  }
}

void DequantizePackedRow(const PackedQuantLayout& l, const uint8_t* packed, int64_t o, float* dst) {
  const uint8_t* gp = packed + (o / kPackRows) * l.group_bytes;
  const int i = static_cast<int>(o % kPackRows);
  if (l.type == DType::kQ6_K) {
    DequantizeQ6KGroupRows(gp, l.blocks, l.scales_offset, i, i + 1, dst);
  } else if (l.type == DType::kQ4_K) {
    DequantizeQ4KGroupRows(gp, l.blocks, l.scales_offset, i, i + 1, dst);
  } else if (l.type == DType::kQ8_0) {
    DequantizeGroupRow<true>(l, gp, i, dst);
  } else {
    DequantizeGroupRow<false>(l, gp, i, dst);
  }
}

}  // namespace llmserve
