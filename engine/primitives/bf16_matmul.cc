#include "engine/primitives/bf16_matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "engine/common/dtype.h"
#include "engine/primitives/avx2_math.h"

namespace llmserve {

Bf16Matrix Bf16Matrix::FromFloat(const float* values, int64_t rows, int64_t cols) {
  Bf16Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.data.resize(static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < m.data.size(); ++i) m.data[i] = FloatToBFloat16(values[i]);
  return m;
}

namespace {

// Rows of x processed together: each weight row is loaded once per tile.
constexpr int kRowTile = 4;

// Portable kernel: 8 partial sums per row (the AVX2 path fuses multiply-add and
// sums its lanes in another order, so the two may differ in the last bits).
void DotRowsGeneric(const float* x, int64_t ld_x, int rows, const uint16_t* w, int64_t k,
                    float* out) {
  for (int r = 0; r < rows; ++r) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const float* xr = x + r * ld_x;
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
      for (int l = 0; l < 8; ++l) acc[l] += xr[i + l] * BFloat16ToFloat(w[i + l]);
    }
    float tail = 0;
    for (; i < k; ++i) tail += xr[i] * BFloat16ToFloat(w[i]);
    out[r] = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
  }
}

LLMSERVE_AVX2 void DotRowsAvx2(const float* x, int64_t ld_x, int rows,
                                                      const uint16_t* w, int64_t k, float* out) {
  __m256 acc[kRowTile];
  for (int r = 0; r < kRowTile; ++r) acc[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i));
    const __m256 wv = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
    for (int r = 0; r < rows; ++r) {
      acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * ld_x + i), wv, acc[r]);
    }
  }
  for (int r = 0; r < rows; ++r) {
    float tail = 0;
    for (int64_t j = i; j < k; ++j) tail += x[r * ld_x + j] * BFloat16ToFloat(w[j]);
    out[r] = avx2::HorizontalSum(acc[r]) + tail;
  }
}

using DotRowsFn = void (*)(const float*, int64_t, int, const uint16_t*, int64_t, float*);

DotRowsFn Kernel() { return avx2::CpuHasAvx2Fma() ? DotRowsAvx2 : DotRowsGeneric; }

}  // namespace

const char* Bf16MatmulIsa() { return Kernel() == DotRowsAvx2 ? "avx2" : "generic"; }

void Bf16Matmul(const float* x, int64_t m, const Bf16Matrix& w, const float* bias,
                bool accumulate, float* y) {
  const int64_t n_out = w.rows, k = w.cols;
  const DotRowsFn dot = Kernel();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < n_out; ++n) {
    const uint16_t* wrow = w.data.data() + n * k;
    const float b = bias != nullptr ? bias[n] : 0.0f;
    for (int64_t i0 = 0; i0 < m; i0 += kRowTile) {
      const int rows = static_cast<int>(std::min<int64_t>(kRowTile, m - i0));
      float out[kRowTile];
      dot(x + i0 * k, k, rows, wrow, k, out);
      for (int r = 0; r < rows; ++r) {
        float* dst = y + (i0 + r) * n_out + n;
        *dst = accumulate ? *dst + (out[r] + b) : out[r] + b;
      }
    }
  }
}

}  // namespace llmserve
