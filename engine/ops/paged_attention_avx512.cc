// AVX-512F inner kernels of PagedAttention (see paged_attention_kernels.h).
// Same structure as paged_attention_avx2.cc with 16-float chunks and mask
// registers for the head_dim tail. Every function carries
// __attribute__((target("avx512f,avx2,fma"))) and is only called when
// IsaSupported(Isa::kAvx512) (__builtin_cpu_supports("avx512f")).
//
//  * scores: eight keys at a time, one 16-lane accumulator per key; each is
//    folded to 8 lanes (low half + high half) and a fixed hadd tree yields the
//    eight dot products.
//  * exp_sum: the Cephes exp of the AVX2 path on 16 lanes.
//  * accumulate: rows x 16-float chunks register blocks (4x4, 2x8, 1x8).

// bf16 K/V (a bf16 KV cache) use the same kernels, widened to f32 at the load.
//
// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own
// _mm512_undefined_ps() (GCC PR 105593, fixed in 12.3/13); silence it here.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <limits>

#include "engine/ops/paged_attention_kernels.h"

#define LLMSERVE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))

namespace llmserve::paged_attention_internal {
namespace {

/// Bits [0, n) set (0 <= n <= 16).
inline __mmask16 LaneMask16(int n) { return static_cast<__mmask16>((1u << n) - 1u); }

/// 16 K/V elements as f32: f32 loads, or bf16 widened exactly (a 16-bit shift),
/// so a bf16 cache gives bitwise the f32 result on its widened values.
LLMSERVE_AVX512 inline __m512 Load16(const float* p) { return _mm512_loadu_ps(p); }
LLMSERVE_AVX512 inline __m512 Load16(const uint16_t* p) {
  const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}
LLMSERVE_AVX512 inline __m512 MaskLoad16(__mmask16 m, const float* p) {
  return _mm512_maskz_loadu_ps(m, p);
}
LLMSERVE_AVX512 inline __m512 MaskLoad16(__mmask16 m, const uint16_t* p) {
  const __m256i raw = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

/// Lane i of the result = sum of the 16 lanes of a[i] (fixed order).
LLMSERVE_AVX512 inline __m256 ReduceEight(const __m512* a) {
  __m256 h[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    const __m256 lo = _mm512_castps512_ps256(a[i]);
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[i]), 1));
    h[i] = _mm256_add_ps(lo, hi);
  }
  const __m256 t0 = _mm256_hadd_ps(h[0], h[1]);
  const __m256 t1 = _mm256_hadd_ps(h[2], h[3]);
  const __m256 t2 = _mm256_hadd_ps(h[4], h[5]);
  const __m256 t3 = _mm256_hadd_ps(h[6], h[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1);
  const __m256 u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/// exp(x) for x <= 0 (Cephes expf, as in the AVX2 path).
LLMSERVE_AVX512 inline __m512 Exp(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f)),
                    _mm512_set1_ps(-88.3762626647949f));
  __m512 fx = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
  fx = _mm512_roundscale_ps(fx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
  const __m512 z = _mm512_mul_ps(x, x);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, z, x);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  __m512i n = _mm512_cvttps_epi32(fx);
  n = _mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(n));
}

/// Unscaled dot products of q with keys[0 .. count) (count <= 8; lanes past
/// count are 0). kFull: count == 8.
template <bool kFull, typename T>
LLMSERVE_AVX512 inline __m256 DotEight(const float* q, const T* const* keys, int count,
                                       int full_chunks, __mmask16 tail_mask, bool has_tail) {
  __m512 acc[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) acc[i] = _mm512_setzero_ps();
  for (int c = 0; c < full_chunks; ++c) {
    const __m512 qv = _mm512_loadu_ps(q + 16 * c);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      if (kFull || i < count) {
        acc[i] = _mm512_fmadd_ps(qv, Load16(keys[i] + 16 * c), acc[i]);
      }
    }
  }
  if (has_tail) {
    const int d = 16 * full_chunks;
    const __m512 qv = _mm512_maskz_loadu_ps(tail_mask, q + d);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      if (kFull || i < count) {
        acc[i] = _mm512_fmadd_ps(qv, MaskLoad16(tail_mask, keys[i] + d), acc[i]);
      }
    }
  }
  return ReduceEight(acc);
}

template <typename T>
LLMSERVE_AVX512 float Avx512Scores(const float* q, const T* const* keys, int n, int head_dim,
                                   float scale, float* scores) {
  const int full_chunks = head_dim / 16;
  const bool has_tail = head_dim % 16 != 0;
  const __mmask16 tail_mask = LaneMask16(head_dim % 16);
  const __m256 vscale = _mm256_set1_ps(scale);
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 vmax = neg_inf;
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
    const __m256i live =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    s = _mm256_blendv_ps(neg_inf, s, _mm256_castsi256_ps(live));
    _mm256_storeu_ps(scores + j, s);
    vmax = _mm256_max_ps(vmax, s);
  }
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

LLMSERVE_AVX512 float Avx512ExpSum(float* scores, int n, float max) {
  const __m512 vmax = _mm512_set1_ps(max);
  __m512 sum = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    __m512 p = Exp(_mm512_sub_ps(_mm512_loadu_ps(scores + j), vmax));
    if (n - j < 16) p = _mm512_maskz_mov_ps(LaneMask16(n - j), p);
    _mm512_storeu_ps(scores + j, p);
    sum = _mm512_add_ps(sum, p);
  }
  return _mm512_reduce_add_ps(sum);
}

/// acc[r][d0 + 16w + l] += p[r][j] * values[j][d0 + 16w + l] for kRows rows,
/// kChunks 16-float chunks from d0 (kMasked: one chunk, lanes per `mask`).
template <int kRows, int kChunks, bool kMasked, typename T>
LLMSERVE_AVX512 inline void AccumulateBlock(float* const* acc, const float* const* p,
                                            const T* const* values, int j_begin, int j_end,
                                            int d0, __mmask16 mask) {
  static_assert(!kMasked || kChunks == 1);
  __m512 a[kRows][kChunks];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
    for (int w = 0; w < kChunks; ++w) a[r][w] = _mm512_loadu_ps(acc[r] + d0 + 16 * w);
  }
  for (int j = j_begin; j < j_end; ++j) {
    const T* v = values[j] + d0;
    __m512 pj[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) pj[r] = _mm512_set1_ps(p[r][j]);
#pragma GCC unroll 8
    for (int w = 0; w < kChunks; ++w) {
      const __m512 vv = kMasked ? MaskLoad16(mask, v) : Load16(v + 16 * w);
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) a[r][w] = _mm512_fmadd_ps(pj[r], vv, a[r][w]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
    for (int w = 0; w < kChunks; ++w) _mm512_storeu_ps(acc[r] + d0 + 16 * w, a[r][w]);
  }
}

/// All of head_dim for kRows rows: blocks of kMaxChunks chunks, then the
/// remaining full chunks in blocks of 4, 2, 1, then the masked tail chunk.
template <int kRows, typename T>
LLMSERVE_AVX512 void AccumulateRows(float* const* acc, const float* const* p,
                                    const T* const* values, int j_begin, int j_end,
                                    int head_dim) {
  constexpr int kMaxChunks = kRows == 4 ? 4 : 8;
  const int full_chunks = head_dim / 16;
  int c = 0;
  for (; c + kMaxChunks <= full_chunks; c += kMaxChunks) {
    AccumulateBlock<kRows, kMaxChunks, false, T>(acc, p, values, j_begin, j_end, 16 * c, 0);
  }
  if constexpr (kMaxChunks > 4) {
    if (c + 4 <= full_chunks) {
      AccumulateBlock<kRows, 4, false, T>(acc, p, values, j_begin, j_end, 16 * c, 0);
      c += 4;
    }
  }
  if (c + 2 <= full_chunks) {
    AccumulateBlock<kRows, 2, false, T>(acc, p, values, j_begin, j_end, 16 * c, 0);
    c += 2;
  }
  if (c < full_chunks) {
    AccumulateBlock<kRows, 1, false, T>(acc, p, values, j_begin, j_end, 16 * c, 0);
    ++c;
  }
  if (head_dim % 16 != 0) {
    AccumulateBlock<kRows, 1, true, T>(acc, p, values, j_begin, j_end, 16 * c,
                                    LaneMask16(head_dim % 16));
  }
}

template <typename T>
LLMSERVE_AVX512 void Avx512Accumulate(int rows, float* const* acc, const float* const* p,
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

const Kernels kAvx512Kernels = {&Avx512Scores<float>, &Avx512ExpSum, &Avx512Accumulate<float>,
                                &Avx512Scores<uint16_t>, &Avx512Accumulate<uint16_t>};

}  // namespace llmserve::paged_attention_internal
