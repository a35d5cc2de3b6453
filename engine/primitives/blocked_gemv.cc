// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own
// _mm512_undefined_*() (GCC PR 105593); silence it here.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "engine/primitives/blocked_gemv.h"

#include <immintrin.h>

#include <type_traits>

namespace llmserve {
namespace {

constexpr int64_t kBlockN = 64;

// Writes the 64 sums of one column block of one row (fewer at the last block).
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

// kRows rows at once, so each weight vector loaded feeds kRows FMAs. Per
// output element one accumulator chain over k in order: the result of a row
// does not depend on kRows.
// One 64-column block b for kRows rows (the OpenMP loop lives in
// RowsInGroups).
template <int kRows>
__attribute__((target("avx512f"))) void F32Block(const float* x, const float* w, int64_t k,
                                                 int64_t padded_k, int64_t n, const float* bias,
                                                 bool accumulate, float* y, int64_t b) {
  const float* wb = w + b * padded_k * kBlockN;
  __m512 acc[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int i = 0; i < 4; ++i) acc[r][i] = _mm512_setzero_ps();
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* row = wb + (kk / 16) * 1024 + (kk % 16) * kBlockN;
    __m512 wv[4];
    for (int i = 0; i < 4; ++i) wv[i] = _mm512_loadu_ps(row + 16 * i);
    for (int r = 0; r < kRows; ++r) {
      const __m512 xv = _mm512_set1_ps(x[r * k + kk]);
      for (int i = 0; i < 4; ++i) acc[r][i] = _mm512_fmadd_ps(xv, wv[i], acc[r][i]);
    }
  }
  for (int r = 0; r < kRows; ++r) Store(acc[r], b * kBlockN, n, bias, accumulate, y + r * n);
}

// The bf16 pair (x[2p], x[2p + 1]) as one 32-bit lane (0 past k).
inline int PairBits(const uint16_t* x, int64_t k, int64_t p) {
  uint32_t bits = x[2 * p];
  if (2 * p + 1 < k) bits |= static_cast<uint32_t>(x[2 * p + 1]) << 16;
  return static_cast<int>(bits);
}

// One 64-column block b for kRows bf16 rows (see F32Block).
template <int kRows>
__attribute__((target("avx512f,avx512bf16"))) void Bf16Block(const uint16_t* x, const uint16_t* w,
                                                             int64_t k, int64_t padded_k, int64_t n,
                                                             const float* bias, bool accumulate,
                                                             float* y, int64_t b) {
  const int64_t pairs = (k + 1) / 2;
  const uint16_t* wb = w + b * padded_k * kBlockN;
  __m512 acc[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int i = 0; i < 4; ++i) acc[r][i] = _mm512_setzero_ps();
  }
  // Pair p holds k = 2p, 2p + 1 for all 64 columns: 128 bf16 = 4 vectors.
  for (int64_t p = 0; p < pairs; ++p) {
    const uint16_t* row = wb + (p / 16) * 2048 + (p % 16) * 128;
    __m512bh wv[4];
    for (int i = 0; i < 4; ++i) {
      wv[i] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(row + 32 * i));
    }
    for (int r = 0; r < kRows; ++r) {
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_set1_epi32(PairBits(x + r * k, k, p)));
      for (int i = 0; i < 4; ++i) acc[r][i] = _mm512_dpbf16_ps(acc[r][i], xv, wv[i]);
    }
  }
  for (int r = 0; r < kRows; ++r) Store(acc[r], b * kBlockN, n, bias, accumulate, y + r * n);
}

// All rows, in groups of up to 4 per 64-column block: the block's weights
// come from memory for the first group and from L2 (96–192 KiB) for the
// others. `block(std::integral_constant<int, R>, x_rows, y_rows, b)` runs one
// group of R rows on block b (F32Block / Bf16Block). The OpenMP loop lives
// here, outside the AVX-512 functions (clang does not carry a target
// attribute into the region it outlines).
template <typename T, typename BlockFn>
void RowsInGroups(const T* x, int rows, int64_t k, int64_t n, float* y, BlockFn block) {
  const int64_t blocks = (n + kBlockN - 1) / kBlockN;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    for (int r0 = 0; r0 < rows; r0 += 4) {
      const T* xr = x + r0 * k;
      float* yr = y + r0 * n;
      switch (rows - r0) {
        case 1:
          block(std::integral_constant<int, 1>(), xr, yr, b);
          break;
        case 2:
          block(std::integral_constant<int, 2>(), xr, yr, b);
          break;
        case 3:
          block(std::integral_constant<int, 3>(), xr, yr, b);
          break;
        default:
          block(std::integral_constant<int, 4>(), xr, yr, b);
      }
    }
  }
}

}  // namespace

void GemvBlockedF32(const float* x, int rows, const float* w, int64_t k, int64_t padded_k,
                    int64_t n, const float* bias, bool accumulate, float* y) {
  RowsInGroups(x, rows, k, n, y, [&](auto r, const float* xr, float* yr, int64_t b) {
    F32Block<decltype(r)::value>(xr, w, k, padded_k, n, bias, accumulate, yr, b);
  });
}

void GemvBlockedBf16(const uint16_t* x, int rows, const uint16_t* w, int64_t k, int64_t padded_k,
                     int64_t n, const float* bias, bool accumulate, float* y) {
  RowsInGroups(x, rows, k, n, y, [&](auto r, const uint16_t* xr, float* yr, int64_t b) {
    Bf16Block<decltype(r)::value>(xr, w, k, padded_k, n, bias, accumulate, yr, b);
  });
}

}  // namespace llmserve
