// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own
// _mm512_undefined_*() (GCC PR 105593); silence it here.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "engine/primitives/blocked_gemv.h"

#include <immintrin.h>

#include <cstring>

namespace llmserve {
namespace {

constexpr int64_t kBlockN = 64;

// Writes the 64 sums of one column block (fewer at the last block).
__attribute__((target("avx512f"))) inline void Store(const __m512* acc, int64_t n0, int64_t n,
                                                     const float* bias, bool accumulate, float* y) {
  alignas(64) float sums[kBlockN];
  for (int i = 0; i < 4; ++i) _mm512_store_ps(sums + 16 * i, acc[i]);
  const int64_t cols = n - n0 < kBlockN ? n - n0 : kBlockN;
  for (int64_t j = 0; j < cols; ++j) {
    float v = sums[j];
    if (bias != nullptr) v += bias[n0 + j];
    y[n0 + j] = accumulate ? y[n0 + j] + v : v;
  }
}

}  // namespace

__attribute__((target("avx512f"))) void GemvBlockedF32(const float* x, const float* w, int64_t k,
                                                       int64_t padded_k, int64_t n,
                                                       const float* bias, bool accumulate,
                                                       float* y) {
  const int64_t blocks = (n + kBlockN - 1) / kBlockN;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const float* wb = w + b * padded_k * kBlockN;
    // Two accumulator sets (even / odd k) keep 8 FMA chains in flight.
    __m512 acc[2][4];
    for (int s = 0; s < 2; ++s) {
      for (int i = 0; i < 4; ++i) acc[s][i] = _mm512_setzero_ps();
    }
    int64_t kk = 0;
    for (; kk + 2 <= k; kk += 2) {
      const float* row = wb + (kk / 16) * 1024 + (kk % 16) * kBlockN;  // k even: same 16-block
      const __m512 x0 = _mm512_set1_ps(x[kk]), x1 = _mm512_set1_ps(x[kk + 1]);
      for (int i = 0; i < 4; ++i) {
        acc[0][i] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(row + 16 * i), acc[0][i]);
        acc[1][i] = _mm512_fmadd_ps(x1, _mm512_loadu_ps(row + kBlockN + 16 * i), acc[1][i]);
      }
    }
    if (kk < k) {
      const float* row = wb + (kk / 16) * 1024 + (kk % 16) * kBlockN;
      const __m512 x0 = _mm512_set1_ps(x[kk]);
      for (int i = 0; i < 4; ++i) {
        acc[0][i] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(row + 16 * i), acc[0][i]);
      }
    }
    __m512 sum[4];
    for (int i = 0; i < 4; ++i) sum[i] = _mm512_add_ps(acc[0][i], acc[1][i]);
    Store(sum, b * kBlockN, n, bias, accumulate, y);
  }
}

__attribute__((target("avx512f,avx512bf16"))) void GemvBlockedBf16(
    const uint16_t* x, const uint16_t* w, int64_t k, int64_t padded_k, int64_t n,
    const float* bias, bool accumulate, float* y) {
  const int64_t blocks = (n + kBlockN - 1) / kBlockN;
  const int64_t pairs = (k + 1) / 2;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const uint16_t* wb = w + b * padded_k * kBlockN;
    __m512 acc[2][4];
    for (int s = 0; s < 2; ++s) {
      for (int i = 0; i < 4; ++i) acc[s][i] = _mm512_setzero_ps();
    }
    // Pair p holds k = 2p, 2p + 1 for all 64 columns: 128 bf16 = 4 vectors.
    // The bf16 pair (x[2p], x[2p + 1]) as one 32-bit lane (0 past k).
    const auto pair_bits = [&](int64_t p) {
      uint32_t bits = x[2 * p];
      if (2 * p + 1 < k) bits |= static_cast<uint32_t>(x[2 * p + 1]) << 16;
      return static_cast<int>(bits);
    };
    int64_t p = 0;
    for (; p + 2 <= pairs; p += 2) {
      const uint16_t* row = wb + (p / 16) * 2048 + (p % 16) * 128;  // p even: same 32-k block
      const __m512bh x0 = reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair_bits(p)));
      const __m512bh x1 = reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair_bits(p + 1)));
      for (int i = 0; i < 4; ++i) {
        const __m512bh w0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(row + 32 * i));
        const __m512bh w1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(row + 128 + 32 * i));
        acc[0][i] = _mm512_dpbf16_ps(acc[0][i], x0, w0);
        acc[1][i] = _mm512_dpbf16_ps(acc[1][i], x1, w1);
      }
    }
    if (p < pairs) {
      const uint16_t* row = wb + (p / 16) * 2048 + (p % 16) * 128;
      const __m512bh x0 = reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair_bits(p)));
      for (int i = 0; i < 4; ++i) {
        const __m512bh w0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(row + 32 * i));
        acc[0][i] = _mm512_dpbf16_ps(acc[0][i], x0, w0);
      }
    }
    __m512 sum[4];
    for (int i = 0; i < 4; ++i) sum[i] = _mm512_add_ps(acc[0][i], acc[1][i]);
    Store(sum, b * kBlockN, n, bias, accumulate, y);
  }
}

}  // namespace llmserve
