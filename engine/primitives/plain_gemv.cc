#include "engine/primitives/plain_gemv.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "engine/common/prefetch.h"
#include "engine/primitives/avx2_math.h"

namespace llmserve {
namespace {

// Columns [c0, c0 + 8 · nv) of every row (the last vector may run into the
// row padding; those sums are never stored) into acc[r · stride + j]: for k in
// steps of 4, the 4 weight rows' vectors are loaded once and feed every row
// of x; each accumulator gets its 4 multiply-adds in k order. The next 4
// weight rows are prefetched one line per row every other vector, so the
// stream of each row stays ahead of the loads.
LLMSERVE_AVX2 void Columns(const float* x, int rows, const float* w, int64_t k, int64_t ld,
                           int64_t c0, int64_t nv, float* acc, int64_t stride) {
  for (int r = 0; r < rows; ++r) std::fill_n(acc + r * stride, nv * 8, 0.0f);
  int64_t kk = 0;
  for (; kk + 4 <= k; kk += 4) {
    const float* w0 = w + kk * ld + c0;
    const float* next = w0 + 4 * ld;
    for (int64_t j = 0; j < nv; ++j) {
      if ((j & 1) == 0) {
        for (int i = 0; i < 4; ++i) {
          PrefetchL1(next + i * ld + j * 8);
        }
      }
      const __m256 wv0 = _mm256_loadu_ps(w0 + j * 8);
      const __m256 wv1 = _mm256_loadu_ps(w0 + ld + j * 8);
      const __m256 wv2 = _mm256_loadu_ps(w0 + 2 * ld + j * 8);
      const __m256 wv3 = _mm256_loadu_ps(w0 + 3 * ld + j * 8);
      for (int r = 0; r < rows; ++r) {
        const float* xr = x + r * k + kk;
        float* a = acc + r * stride + j * 8;
        __m256 s = _mm256_loadu_ps(a);
        s = _mm256_fmadd_ps(_mm256_broadcast_ss(xr), wv0, s);
        s = _mm256_fmadd_ps(_mm256_broadcast_ss(xr + 1), wv1, s);
        s = _mm256_fmadd_ps(_mm256_broadcast_ss(xr + 2), wv2, s);
        s = _mm256_fmadd_ps(_mm256_broadcast_ss(xr + 3), wv3, s);
        _mm256_storeu_ps(a, s);
      }
    }
  }
  for (; kk < k; ++kk) {
    const float* wk = w + kk * ld + c0;
    for (int64_t j = 0; j < nv; ++j) {
      const __m256 wv = _mm256_loadu_ps(wk + j * 8);
      for (int r = 0; r < rows; ++r) {
        float* a = acc + r * stride + j * 8;
        _mm256_storeu_ps(a, _mm256_fmadd_ps(_mm256_broadcast_ss(x + r * k + kk), wv,
                                            _mm256_loadu_ps(a)));
      }
    }
  }
}

}  // namespace

void GemvPlainF32(const float* x, int rows, const float* w, int64_t k, int64_t ld, int64_t n,
                  const float* bias, bool accumulate, float* y) {
  const int64_t vecs = (n + 7) / 8;
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t v0 = vecs * t / nt, v1 = vecs * (t + 1) / nt;
    if (v0 < v1) {
      const int64_t nv = v1 - v0, c0 = v0 * 8, c1 = std::min(n, v1 * 8);
      thread_local std::vector<float> acc;
      const int64_t stride = nv * 8;
      if (acc.size() < static_cast<std::size_t>(rows * stride)) acc.resize(rows * stride);
      Columns(x, rows, w, k, ld, c0, nv, acc.data(), stride);
      for (int r = 0; r < rows; ++r) {
        const float* a = acc.data() + r * stride;
        float* yr = y + r * n;
        for (int64_t c = c0; c < c1; ++c) {
          float v = a[c - c0];
          if (bias != nullptr) v += bias[c];
          yr[c] = accumulate ? yr[c] + v : v;
        }
      }
    }
  }
}

}  // namespace llmserve
