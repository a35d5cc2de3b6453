// AVX2 + FMA inner kernels of PagedAttention (see paged_attention_kernels.h).
// Compiled for the baseline ISA; every function carries
// __attribute__((target("avx2,fma"))) and is only called after a run-time
// check (IsaSupported(Isa::kAvx2)).
//
//  * scores: eight keys at a time, one 8-lane accumulator per key running
//    over head_dim in 8-float chunks (masked loads for a head_dim tail), then
//    a fixed hadd tree turns the eight accumulators into eight dot products
//    (lane i of the result only ever sums lanes of accumulator i, so a key's
//    score is the same whichever keys share its group).
//  * exp_sum: Cephes-style exp (range reduction by ln 2, degree-5 minimax
//    polynomial, 2^n via the exponent bits; ~1 ulp), masked to 0 past n.
//  * accumulate: register-blocked rows x 8-float chunks (4x2, 2x4 or 1x8
//    accumulators) so several FMA chains are in flight; each lane's sum still
//    runs sequentially over j.
// bf16 K/V (a bf16 KV cache) use the same kernels, widened to f32 at the load.

#include <immintrin.h>

#include <limits>

#include "engine/ops/paged_attention_kernels.h"
#include "engine/primitives/avx2_math.h"

namespace llmserve::paged_attention_internal {
namespace {

using ::llmserve::avx2::Exp;
using ::llmserve::avx2::HorizontalSum;

/// All-ones in lanes [0, n), zero elsewhere (0 <= n <= 8).
LLMSERVE_AVX2 inline __m256i LaneMask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// 8 K/V elements as f32: f32 loads, or bf16 widened exactly (a 16-bit shift),
/// so a bf16 cache gives bitwise the f32 result on its widened values.
LLMSERVE_AVX2 inline __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
LLMSERVE_AVX2 inline __m256 Widen8(__m128i raw) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}
LLMSERVE_AVX2 inline __m256 Load8(const uint16_t* p) {
  return Widen8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
LLMSERVE_AVX2 inline __m256 MaskLoad8(const float* p, __m256i mask) {
  return _mm256_maskload_ps(p, mask);
}
LLMSERVE_AVX2 inline __m256 MaskLoad8(const uint16_t* p, __m256i mask) {
  // No 16-bit masked load in AVX2: copy the live lanes (a prefix).
  alignas(16) uint16_t tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const int n = __builtin_popcount(_mm256_movemask_ps(_mm256_castsi256_ps(mask)));
  for (int i = 0; i < n; ++i) tail[i] = p[i];
  return Widen8(_mm_load_si128(reinterpret_cast<const __m128i*>(tail)));
}

/// Lane i of the result = sum of the 8 lanes of a[i], always in the order
/// ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)).
LLMSERVE_AVX2 inline __m256 ReduceEight(const __m256* a) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]);
  const __m256 t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]);
  const __m256 t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1);  // a0..a3 (lanes 0-3 | 4-7 partials)
  const __m256 u1 = _mm256_hadd_ps(t2, t3);  // a4..a7
  const __m256 lo = _mm256_permute2f128_ps(u0, u1, 0x20);
  const __m256 hi = _mm256_permute2f128_ps(u0, u1, 0x31);
  return _mm256_add_ps(lo, hi);
}

LLMSERVE_AVX2 inline float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

/// Unscaled dot products of q with keys[0 .. count) (count <= 8; lanes past
/// count are 0). kFull: count == 8.
template <bool kFull, typename T>
LLMSERVE_AVX2 inline __m256 DotEight(const float* q, const T* const* keys, int count,
                                     int full_chunks, __m256i tail_mask, bool has_tail) {
  __m256 acc[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
  for (int c = 0; c < full_chunks; ++c) {
    const __m256 qv = _mm256_loadu_ps(q + 8 * c);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      if (kFull || i < count) {
        acc[i] = _mm256_fmadd_ps(qv, Load8(keys[i] + 8 * c), acc[i]);
      }
    }
  }
  if (has_tail) {
    const int d = 8 * full_chunks;
    const __m256 qv = _mm256_maskload_ps(q + d, tail_mask);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      if (kFull || i < count) {
        acc[i] = _mm256_fmadd_ps(qv, MaskLoad8(keys[i] + d, tail_mask), acc[i]);
      }
    }
  }
  return ReduceEight(acc);
}

template <typename T>
LLMSERVE_AVX2 float Avx2Scores(const float* q, const T* const* keys, int n, int head_dim,
                               float scale, float* scores) {
  const int full_chunks = head_dim / 8;
  const bool has_tail = head_dim % 8 != 0;
  const __m256i tail_mask = LaneMask(head_dim % 8);
  const __m256 vscale = _mm256_set1_ps(scale);
  __m256 vmax = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 s =
        _mm256_mul_ps(DotEight<true, T>(q, keys + j, 8, full_chunks, tail_mask, has_tail), vscale);
    _mm256_storeu_ps(scores + j, s);
    vmax = _mm256_max_ps(vmax, s);
  }
  if (j < n) {
    const int count = n - j;
    __m256 s = _mm256_mul_ps(DotEight<false, T>(q, keys + j, count, full_chunks, tail_mask, has_tail),
                             vscale);
    s = _mm256_blendv_ps(_mm256_set1_ps(-std::numeric_limits<float>::infinity()), s,
                         _mm256_castsi256_ps(LaneMask(count)));
    _mm256_storeu_ps(scores + j, s);
    vmax = _mm256_max_ps(vmax, s);
  }
  return HorizontalMax(vmax);
}

LLMSERVE_AVX2 float Avx2ExpSum(float* scores, int n, float max) {
  const __m256 vmax = _mm256_set1_ps(max);
  __m256 sum = _mm256_setzero_ps();
  for (int j = 0; j < n; j += 8) {
    __m256 p = Exp(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vmax));
    if (n - j < 8) p = _mm256_and_ps(p, _mm256_castsi256_ps(LaneMask(n - j)));
    _mm256_storeu_ps(scores + j, p);
    sum = _mm256_add_ps(sum, p);
  }
  return HorizontalSum(sum);
}

/// acc[r][d0 + 8w + l] += p[r][j] * values[j][d0 + 8w + l] for kRows rows,
/// kChunks 8-float chunks from d0 (kMasked: one chunk, lanes per `mask`).
template <int kRows, int kChunks, bool kMasked, typename T>
LLMSERVE_AVX2 inline void AccumulateBlock(float* const* acc, const float* const* p,
                                          const T* const* values, int j_begin, int j_end,
                                          int d0, __m256i mask) {
  static_assert(!kMasked || kChunks == 1);
  __m256 a[kRows][kChunks];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
    for (int w = 0; w < kChunks; ++w) a[r][w] = _mm256_loadu_ps(acc[r] + d0 + 8 * w);
  }
  for (int j = j_begin; j < j_end; ++j) {
    const T* v = values[j] + d0;
    __m256 pj[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) pj[r] = _mm256_broadcast_ss(p[r] + j);
#pragma GCC unroll 8
    for (int w = 0; w < kChunks; ++w) {
      const __m256 vv = kMasked ? MaskLoad8(v, mask) : Load8(v + 8 * w);
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) a[r][w] = _mm256_fmadd_ps(pj[r], vv, a[r][w]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
    for (int w = 0; w < kChunks; ++w) _mm256_storeu_ps(acc[r] + d0 + 8 * w, a[r][w]);
  }
}

/// All of head_dim for kRows rows: blocks of 8 / kRows chunks, then the
/// remaining full chunks in blocks of 4, 2, 1, then the masked tail chunk.
template <int kRows, typename T>
LLMSERVE_AVX2 void AccumulateRows(float* const* acc, const float* const* p,
                                  const T* const* values, int j_begin, int j_end,
                                  int head_dim) {
  constexpr int kMaxChunks = 8 / kRows;
  const int full_chunks = head_dim / 8;
  const __m256i none = _mm256_setzero_si256();
  int c = 0;
  for (; c + kMaxChunks <= full_chunks; c += kMaxChunks) {
    AccumulateBlock<kRows, kMaxChunks, false, T>(acc, p, values, j_begin, j_end, 8 * c, none);
  }
  if constexpr (kMaxChunks > 4) {
    if (c + 4 <= full_chunks) {
      AccumulateBlock<kRows, 4, false, T>(acc, p, values, j_begin, j_end, 8 * c, none);
      c += 4;
    }
  }
  if constexpr (kMaxChunks > 2) {
    if (c + 2 <= full_chunks) {
      AccumulateBlock<kRows, 2, false, T>(acc, p, values, j_begin, j_end, 8 * c, none);
      c += 2;
    }
  }
  if constexpr (kMaxChunks > 1) {
    if (c < full_chunks) {
      AccumulateBlock<kRows, 1, false, T>(acc, p, values, j_begin, j_end, 8 * c, none);
      ++c;
    }
  }
  if (head_dim % 8 != 0) {
    AccumulateBlock<kRows, 1, true, T>(acc, p, values, j_begin, j_end, 8 * c, LaneMask(head_dim % 8));
  }
}

template <typename T>
LLMSERVE_AVX2 void Avx2Accumulate(int rows, float* const* acc, const float* const* p,
                                  const T* const* values, int j_begin, int j_end,
                                  int head_dim) {
  if (j_begin >= j_end) return;
  int r = 0;
  for (; r + 4 <= rows; r += 4) {
    AccumulateRows<4, T>(acc + r, p + r, values, j_begin, j_end, head_dim);
  }
  if (r + 2 <= rows) {
    AccumulateRows<2, T>(acc + r, p + r, values, j_begin, j_end, head_dim);
    r += 2;
  }
  if (r < rows) AccumulateRows<1, T>(acc + r, p + r, values, j_begin, j_end, head_dim);
}

}  // namespace

const Kernels kAvx2Kernels = {&Avx2Scores<float>, &Avx2ExpSum, &Avx2Accumulate<float>,
                              &Avx2Scores<uint16_t>, &Avx2Accumulate<uint16_t>};

}  // namespace llmserve::paged_attention_internal
