#ifndef LLMSERVE_BENCHMARKS_Q4_0_WIDEN_KERNEL_H_
#define LLMSERVE_BENCHMARKS_Q4_0_WIDEN_KERNEL_H_

// The alternative the engine did not take, kept for the measurement in
// docs/benchmarks.md ("Quantized weights"): Q4_0 weights widened to f32 in
// registers (AVX-512) and multiplied with f32 activations, instead of
// quantizing the activations to int8 and using vpdpbusd
// (engine/primitives/quant_kernels_x86.inc). Same 4-row tiles, same ggml block
// layout in place. Benchmark-only code.

#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "engine/common/ggml_blocks.h"

namespace llmserve::bench {

template <int R>
__attribute__((target("avx512f,avx512bw,f16c"))) inline void Q4_0WidenRows(
    const uint8_t* w, int64_t row_bytes, int64_t in, const float* x, const float* xsum, float* y,
    int64_t o) {
  const int64_t nb = in / kQBlock;
  const BlockQ4_0* wr[R];
  for (int i = 0; i < R; ++i) wr[i] = reinterpret_cast<const BlockQ4_0*>(w + (o + i) * row_bytes);
  __m512 acc[R];
  float corr[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm512_setzero_ps(), corr[i] = 0.0f;
  const __m128i mask = _mm_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; ++b) {
    const __m512 x0 = _mm512_loadu_ps(x + kQBlock * b), x1 = _mm512_loadu_ps(x + kQBlock * b + 16);
    for (int i = 0; i < R; ++i) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wr[i][b].qs));
      const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(q, mask)));
      const __m512 hi =
          _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), mask)));
      const float d = _cvtsh_ss(wr[i][b].d);
      acc[i] = _mm512_fmadd_ps(_mm512_fmadd_ps(lo, x0, _mm512_mul_ps(hi, x1)), _mm512_set1_ps(d),
                               acc[i]);
      corr[i] += d * xsum[b];  // the −8 zero point: −8 · d · Σx
    }
  }
  for (int i = 0; i < R; ++i) y[o + i] = _mm512_reduce_add_ps(acc[i]) - 8.0f * corr[i];
}

/// y[out] = deq(W) · x for one f32 activation row; parallel over 16-row chunks.
inline void Q4_0WidenGemv(const uint8_t* w, int64_t row_bytes, int64_t in, int64_t out,
                          const float* x, float* y) {
  std::vector<float> xsum(in / kQBlock);
  for (int64_t b = 0; b < in / kQBlock; ++b) {
    float s = 0;
    for (int j = 0; j < kQBlock; ++j) s += x[kQBlock * b + j];
    xsum[b] = s;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < (out + 15) / 16; ++c) {
    int64_t o = c * 16;
    const int64_t end = std::min(out, o + 16);
    for (; o + 4 <= end; o += 4) Q4_0WidenRows<4>(w, row_bytes, in, x, xsum.data(), y, o);
    for (; o < end; ++o) Q4_0WidenRows<1>(w, row_bytes, in, x, xsum.data(), y, o);
  }
}

}  // namespace llmserve::bench

#endif  // LLMSERVE_BENCHMARKS_Q4_0_WIDEN_KERNEL_H_
