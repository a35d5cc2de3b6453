#ifndef LLMSERVE_ENGINE_PRIMITIVES_AVX2_MATH_H_
#define LLMSERVE_ENGINE_PRIMITIVES_AVX2_MATH_H_

// Vector math for AVX2 + FMA kernels. Every function carries
// __attribute__((target("avx2,fma"))): include this header in code compiled
// for the baseline ISA and call these only after a run-time check
// (CpuHasAvx2Fma(), i.e. the process-wide CPU-ISA dispatcher's level).

#include <immintrin.h>

#include "engine/common/cpu_isa.h"

#define LLMSERVE_AVX2 __attribute__((target("avx2,fma")))

namespace llmserve::avx2 {

/// True when the active CPU-ISA level (engine/common/cpu_isa.h, which
/// LLMSERVE_CPU_ISA can lower) includes AVX2 and FMA.
inline bool CpuHasAvx2Fma() { return CpuIsaAtLeast(CpuIsa::kAvx2); }

/// Sum of the 8 lanes, in the order ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
LLMSERVE_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

/// Sum of the 4 double lanes, in the order (l0+l2) + (l1+l3).
LLMSERVE_AVX2 inline double HorizontalSum(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/// exp(x), Cephes expf: range reduction by ln 2, degree-5 polynomial, 2^n via
/// the exponent bits; relative error ~1e-7. Inputs are clamped to ±88.38, so
/// very negative x give (near) 0 and very large x give +inf.
LLMSERVE_AVX2 inline __m256 Exp(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f)),
                    _mm256_set1_ps(-88.3762626647949f));
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, z, x);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  __m256i n = _mm256_cvttps_epi32(fx);
  n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}

}  // namespace llmserve::avx2

#endif  // LLMSERVE_ENGINE_PRIMITIVES_AVX2_MATH_H_
