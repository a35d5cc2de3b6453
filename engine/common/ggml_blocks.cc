#include "engine/common/ggml_blocks.h"

namespace llmserve {
namespace {

void DequantizeQ8_0(const BlockQ8_0* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, y += kQBlock) {
    const float d = HalfToFloat(b[i].d);
    for (int j = 0; j < kQBlock; ++j) y[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

void DequantizeQ4_0(const BlockQ4_0* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, y += kQBlock) {
    const float d = HalfToFloat(b[i].d);
    for (int j = 0; j < kQBlock / 2; ++j) {
      y[j] = d * static_cast<float>((b[i].qs[j] & 0xF) - 8);
      y[j + kQBlock / 2] = d * static_cast<float>((b[i].qs[j] >> 4) - 8);
    }
  }
}

void DequantizeQ4_K(const BlockQ4_K* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = HalfToFloat(b[i].d);
    const float dmin = HalfToFloat(b[i].dmin);
    const uint8_t* q = b[i].qs;
    for (int j = 0, is = 0; j < kQKBlock; j += 64, is += 2, q += 32) {
      uint8_t sc, m;
      Q4KScaleMin(is, b[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      Q4KScaleMin(is + 1, b[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void DequantizeQ6_K(const BlockQ6_K* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = HalfToFloat(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    for (int n = 0; n < kQKBlock; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace

void DequantizeRow(DType type, const void* src, int64_t n, float* dst) {
  const int64_t nb = n / DTypeBlockElements(type);
  switch (type) {
    case DType::kQ8_0: return DequantizeQ8_0(static_cast<const BlockQ8_0*>(src), nb, dst);
    case DType::kQ4_0: return DequantizeQ4_0(static_cast<const BlockQ4_0*>(src), nb, dst);
    case DType::kQ4_K: return DequantizeQ4_K(static_cast<const BlockQ4_K*>(src), nb, dst);
    case DType::kQ6_K: return DequantizeQ6_K(static_cast<const BlockQ6_K*>(src), nb, dst);
    default: ConvertToFloat(type, src, static_cast<std::size_t>(n), dst);
  }
}

}  // namespace llmserve
