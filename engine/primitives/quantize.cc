#include "engine/primitives/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace llmserve {

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // NaN
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to ≥ 65520: inf
  if (ax < 0x38800000u) {
    // Subnormal half (or zero): value = m · 2^-24, round to nearest even.
    if (ax < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25: rounds to 0
    const uint32_t e = ax >> 23;                 // biased f32 exponent, 102..112
    const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;              // 14..24
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  // Normal: rebias the exponent (127 → 15) and round the mantissa to 10 bits.
  uint32_t h = ((ax - 0x38000000u) >> 13);
  const uint32_t rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: fine
  return static_cast<uint16_t>(sign | h);
}

void QuantizeRowQ8_0(const float* x, int64_t n, BlockQ8_0* y) {
  for (int64_t i = 0; i < n / kQBlock; ++i, x += kQBlock) {
    float amax = 0.0f;
    for (int j = 0; j < kQBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = FloatToHalf(d);
    for (int j = 0; j < kQBlock; ++j) y[i].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  }
}

void QuantizeRowQ4_0(const float* x, int64_t n, BlockQ4_0* y) {
  for (int64_t i = 0; i < n / kQBlock; ++i, x += kQBlock) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQBlock; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = FloatToHalf(d);
    for (int j = 0; j < kQBlock / 2; ++j) {
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      const int hi =
          std::min(15, static_cast<int>(static_cast<int8_t>(x[j + kQBlock / 2] * id + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

namespace {

void QuantizeActivationRow(const float* x, int64_t n, int block, int8_t* q, float* d,
                           int16_t* sum16) {
  for (int64_t b = 0; b < n / block; ++b, x += block, q += block) {
    float amax = 0.0f;
    for (int j = 0; j < block; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float scale = amax / 127.0f;
    const float id = scale != 0.0f ? 1.0f / scale : 0.0f;
    d[b] = scale;
    for (int j = 0; j < block; ++j) {
      // Round to nearest even without a libm call (|x · id| ≤ 127.x < 2^22):
      // adding and subtracting 1.5 · 2^23 leaves the integer part rounded.
      const float v = (x[j] * id + 12582912.0f) - 12582912.0f;
      q[j] = static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, v)));
    }
    for (int j = 0; j < block; j += 16) {
      int s = 0;
      for (int k = 0; k < 16; ++k) s += q[j + k];
      *sum16++ = static_cast<int16_t>(s);
    }
  }
}

}  // namespace

void QuantizeActivations(const float* x, int64_t rows, int64_t n, int block,
                         QuantizedActivations* out) {
  out->rows = rows;
  out->n = n;
  out->block = block;
  if (out->qs.size() < static_cast<std::size_t>(rows * n)) out->qs.resize(rows * n);
  if (out->d.size() < static_cast<std::size_t>(rows * (n / block))) out->d.resize(rows * (n / block));
  if (out->sum16.size() < static_cast<std::size_t>(rows * (n / 16))) {
    out->sum16.resize(rows * (n / 16));
  }
#pragma omp parallel for schedule(static) if (rows * n >= (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeActivationRow(x + r * n, n, block, out->qs.data() + r * n,
                          out->d.data() + r * (n / block), out->sum16.data() + r * (n / 16));
  }
}

}  // namespace llmserve
