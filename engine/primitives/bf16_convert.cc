// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own
// _mm512_undefined_*() (GCC PR 105593); silence it here.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "engine/primitives/bf16_convert.h"

#include <immintrin.h>

#include "engine/common/cpu_isa.h"
#include "engine/common/dtype.h"

namespace llmserve {
namespace {

// Round to nearest even on the integer bits: (b + 0x7fff + ((b >> 16) & 1)) >> 16;
// NaN: (b >> 16) | 0x40 (quiet), as FloatToBFloat16.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void ToBf16Avx512(const float* x, int64_t n,
                                                                        uint16_t* out) {
  const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  const __m512i quiet = _mm512_set1_epi32(0x400000);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i b = _mm512_castps_si512(_mm512_loadu_ps(x + i));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(b, abs_mask), inf);
    __m512i r = _mm512_add_epi32(b, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(b, 16), one)));
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(b, quiet));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
  }
  for (; i < n; ++i) out[i] = FloatToBFloat16(x[i]);
}

__attribute__((target("avx2"))) void ToBf16Avx2(const float* x, int64_t n, uint16_t* out) {
  const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(0x400000);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i half[2];
    for (int h = 0; h < 2; ++h) {
      const __m256i b = _mm256_castps_si256(_mm256_loadu_ps(x + i + 8 * h));
      // |b| > inf as signed compare is safe: both sides are < 2^31.
      const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, abs_mask), inf);
      __m256i r = _mm256_add_epi32(b, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(b, 16), one)));
      r = _mm256_blendv_epi8(r, _mm256_or_si256(b, quiet), nan);
      half[h] = _mm256_srli_epi32(r, 16);
    }
    // packus interleaves 128-bit lanes (a_lo b_lo a_hi b_hi); the permute restores order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(half[0], half[1]), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), packed);
  }
  for (; i < n; ++i) out[i] = FloatToBFloat16(x[i]);
}

}  // namespace

void FloatToBf16(const float* x, int64_t n, uint16_t* out) {
  if (CpuIsaAtLeast(CpuIsa::kAvx512)) return ToBf16Avx512(x, n, out);
  if (CpuIsaAtLeast(CpuIsa::kAvx2)) return ToBf16Avx2(x, n, out);
  for (int64_t i = 0; i < n; ++i) out[i] = FloatToBFloat16(x[i]);
}

void Bf16ToFloat(const uint16_t* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = BFloat16ToFloat(x[i]);
}

}  // namespace llmserve
