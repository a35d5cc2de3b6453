#include "engine/primitives/cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/primitives/avx2_math.h"
#include "engine/primitives/bf16_convert.h"

namespace llmserve {
namespace {

// Row kernels, AVX2 + FMA where the CPU has it (chosen at run time), else
// portable loops. Each row's arithmetic depends only on that row.

LLMSERVE_AVX2 float SumOfSquaresAvx2(const float* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    acc = _mm256_fmadd_ps(v, v, acc);
  }
  float ss = avx2::HorizontalSum(acc);
  for (; j < n; ++j) ss += x[j] * x[j];
  return ss;
}

LLMSERVE_AVX2 void ScaleByWeightAvx2(const float* x, const float* w, float scale, int64_t n,
                                     float* out) {
  const __m256 s = _mm256_set1_ps(scale);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    _mm256_storeu_ps(out + j,
                     _mm256_mul_ps(_mm256_loadu_ps(w + j), _mm256_mul_ps(s, _mm256_loadu_ps(x + j))));
  }
  for (; j < n; ++j) out[j] = w[j] * (scale * x[j]);
}

// silu(g) * u = g / (1 + exp(-g)) * u
LLMSERVE_AVX2 void SiluAndMulAvx2(const float* g, const float* u, int64_t n, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 zero = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(g + j);
    const __m256 e = avx2::Exp(_mm256_sub_ps(zero, v));
    const __m256 silu = _mm256_div_ps(v, _mm256_add_ps(one, e));
    _mm256_storeu_ps(out + j, _mm256_mul_ps(silu, _mm256_loadu_ps(u + j)));
  }
  for (; j < n; ++j) out[j] = g[j] / (1.0f + std::exp(-g[j])) * u[j];
}

// 0.5 v (1 + tanh(y)), tanh(y) = 1 - 2 / (exp(2y) + 1), y = sqrt(2/pi) (v + 0.044715 v^3)
LLMSERVE_AVX2 void GeluTanhAvx2(float* x, int64_t n) {
  const __m256 c = _mm256_set1_ps(0.7978845608028654f);
  const __m256 k = _mm256_set1_ps(0.044715f);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 two = _mm256_set1_ps(2.0f);
  const __m256 half = _mm256_set1_ps(0.5f);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    const __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
    const __m256 y = _mm256_mul_ps(c, _mm256_fmadd_ps(k, v3, v));
    const __m256 e = avx2::Exp(_mm256_mul_ps(two, y));
    const __m256 t = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(e, one)));
    _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, t)));
  }
  for (; j < n; ++j) {
    const float v = x[j];
    x[j] = 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
  }
}

}  // namespace

namespace {

void RmsNormRow(const float* xr, const float* weight, int64_t n, float eps, float* o) {
  const bool avx2 = avx2::CpuHasAvx2Fma();
  float ss = 0.0f;
  if (avx2) {
    ss = SumOfSquaresAvx2(xr, n);
  } else {
    for (int64_t j = 0; j < n; ++j) ss += xr[j] * xr[j];
  }
  ss /= static_cast<float>(n);
  ss += eps;
  ss = 1.0f / std::sqrt(ss);
  if (avx2) {
    ScaleByWeightAvx2(xr, weight, ss, n, o);
  } else {
    for (int64_t j = 0; j < n; ++j) o[j] = weight[j] * (ss * xr[j]);
  }
}

// LayerNormRow with the two reductions in 4 double lanes x 2 (the scalar
// loops below are one serial chain of n double adds each: ~1.7 µs per
// 768-wide row, 2 % of a 32-sequence GPT-2 decode step). Same formula: the
// mean and the squared deviations (x - mean computed in f32, as below) are
// summed in double, only in another order (differences of ~1e-16 relative,
// below f32's resolution); the output loop is the scalar one's operations.
LLMSERVE_AVX2 void LayerNormRowAvx2(const float* xr, const float* weight, const float* bias,
                                    int64_t n, float eps, float* o) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(xr + j)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(xr + j + 4)));
  }
  double sum = avx2::HorizontalSum(_mm256_add_pd(s0, s1));
  for (; j < n; ++j) sum += xr[j];
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const __m128 m4 = _mm_set1_ps(mean);
  s0 = _mm256_setzero_pd();
  s1 = _mm256_setzero_pd();
  for (j = 0; j + 8 <= n; j += 8) {
    const __m256d d0 = _mm256_cvtps_pd(_mm_sub_ps(_mm_loadu_ps(xr + j), m4));
    const __m256d d1 = _mm256_cvtps_pd(_mm_sub_ps(_mm_loadu_ps(xr + j + 4), m4));
    s0 = _mm256_add_pd(s0, _mm256_mul_pd(d0, d0));
    s1 = _mm256_add_pd(s1, _mm256_mul_pd(d1, d1));
  }
  double var = avx2::HorizontalSum(_mm256_add_pd(s0, s1));
  for (; j < n; ++j) {
    const double d = xr[j] - mean;
    var += d * d;
  }
  const float inv = static_cast<float>(1.0 / std::sqrt(var / static_cast<double>(n) + eps));
  const __m256 m8 = _mm256_set1_ps(mean), inv8 = _mm256_set1_ps(inv);
  for (j = 0; j + 8 <= n; j += 8) {
    const __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + j), m8), inv8);
    _mm256_storeu_ps(o + j, _mm256_add_ps(_mm256_mul_ps(t, _mm256_loadu_ps(weight + j)),
                                          _mm256_loadu_ps(bias + j)));
  }
  for (; j < n; ++j) o[j] = (xr[j] - mean) * inv * weight[j] + bias[j];
}

void LayerNormRow(const float* xr, const float* weight, const float* bias, int64_t n, float eps,
                  float* o) {
  if (avx2::CpuHasAvx2Fma()) {
    LayerNormRowAvx2(xr, weight, bias, n, eps, o);
    return;
  }
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) sum += xr[j];
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  double var = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    const double d = xr[j] - mean;
    var += d * d;
  }
  const float inv = static_cast<float>(1.0 / std::sqrt(var / static_cast<double>(n) + eps));
  for (int64_t j = 0; j < n; ++j) o[j] = (xr[j] - mean) * inv * weight[j] + bias[j];
}

void SiluAndMulRow(const float* g, const float* u, int64_t ffn, float* o) {
  if (avx2::CpuHasAvx2Fma()) {
    SiluAndMulAvx2(g, u, ffn, o);
    return;
  }
  for (int64_t j = 0; j < ffn; ++j) {
    const float v = g[j];
    o[j] = v * (1.0f / (1.0f + std::exp(-v))) * u[j];
  }
}

void GeluTanhChunk(float* x, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  if (avx2::CpuHasAvx2Fma()) {
    GeluTanhAvx2(x, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
  }
}

// A per-thread f32 row for the bf16-output kernels (stays in L1/L2).
float* RowBuffer(int64_t n) {
  thread_local std::vector<float> row;
  if (row.size() < static_cast<std::size_t>(n)) row.resize(n);
  return row.data();
}

}  // namespace

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps, float* out) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) RmsNormRow(x + r * n, weight, n, eps, out + r * n);
}

void RmsNormToBf16(const float* x, const float* weight, int64_t rows, int64_t n, float eps,
                   uint16_t* out) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = RowBuffer(n);
    RmsNormRow(x + r * n, weight, n, eps, row);
    FloatToBf16(row, n, out + r * n);
  }
}

void LayerNorm(const float* x, const float* weight, const float* bias, int64_t rows, int64_t n,
               float eps, float* out) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) LayerNormRow(x + r * n, weight, bias, n, eps, out + r * n);
}

void LayerNormToBf16(const float* x, const float* weight, const float* bias, int64_t rows,
                     int64_t n, float eps, uint16_t* out) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = RowBuffer(n);
    LayerNormRow(x + r * n, weight, bias, n, eps, row);
    FloatToBf16(row, n, out + r * n);
  }
}

void RopeTable(int max_position, int head_dim, float theta, float* cos_sin) {
  const int half = head_dim / 2;
  for (int pos = 0; pos < max_position; ++pos) {
    for (int i = 0; i < half; ++i) {
      const float freq = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
      const float angle = static_cast<float>(pos) * freq;
      cos_sin[(static_cast<int64_t>(pos) * half + i) * 2] = std::cos(angle);
      cos_sin[(static_cast<int64_t>(pos) * half + i) * 2 + 1] = std::sin(angle);
    }
  }
}

namespace {

inline void RotateHead(float* v, int head_dim, RopeStyle style, const float* cs) {
  const int half = head_dim / 2;
  if (style == RopeStyle::kInterleaved) {
    for (int i = 0; i < half; ++i) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = a * c - b * s;
      v[2 * i + 1] = a * s + b * c;
    }
  } else {
    for (int i = 0; i < half; ++i) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float a = v[i], b = v[i + half];
      v[i] = a * c - b * s;
      v[i + half] = b * c + a * s;
    }
  }
}

}  // namespace

void ApplyRope(float* qkv, int64_t row_stride, int64_t rows, const int32_t* positions,
               int num_heads, int num_kv_heads, int head_dim, RopeStyle style,
               const float* cos_sin) {
  const int half = head_dim / 2;
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = qkv + r * row_stride;
    const float* cs = cos_sin + static_cast<int64_t>(positions[r]) * half * 2;
    for (int h = 0; h < num_heads + num_kv_heads; ++h) {
      RotateHead(row + static_cast<int64_t>(h) * head_dim, head_dim, style, cs);
    }
  }
}

void SiluAndMul(const float* gate_up, int64_t rows, int64_t ffn, float* out) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate_up + r * 2 * ffn;
    SiluAndMulRow(g, g + ffn, ffn, out + r * ffn);
  }
}

void SiluAndMulToBf16(const float* gate_up, int64_t rows, int64_t ffn, uint16_t* out) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate_up + r * 2 * ffn;
    float* row = RowBuffer(ffn);
    SiluAndMulRow(g, g + ffn, ffn, row);
    FloatToBf16(row, ffn, out + r * ffn);
  }
}

// GELU runs on all threads above 8,192 values (more than two 4,096-value
// chunks; from 3 rows at GPT-2's 3,072). The old bound, 65,536, left 8 and 16
// decode rows (24,576 / 49,152 values) to one thread while the other waited,
// ~20-40 µs a layer; decode steps at 8 / 16 sequences 3-9 % faster
// (docs/benchmarks.md, sixth session). Per value the same arithmetic.
void GeluTanh(float* x, int64_t n) {
  constexpr int64_t kChunk = 4096;
#pragma omp parallel for schedule(static) if (n > 8192)
  for (int64_t i = 0; i < n; i += kChunk) GeluTanhChunk(x + i, std::min(kChunk, n - i));
}

void GeluTanhToBf16(const float* x, int64_t n, uint16_t* out) {
  constexpr int64_t kChunk = 4096;
#pragma omp parallel for schedule(static) if (n > 8192)
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t len = std::min(kChunk, n - i);
    float* chunk = RowBuffer(len);
    std::memcpy(chunk, x + i, len * sizeof(float));
    GeluTanhChunk(chunk, len);
    FloatToBf16(chunk, len, out + i);
  }
}

void Embed(const float* table, const int32_t* ids, const float* pos_table,
           const int32_t* positions, int64_t rows, int64_t n, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + r * n;
    std::memcpy(o, table + static_cast<int64_t>(ids[r]) * n, n * sizeof(float));
    if (pos_table != nullptr) {
      const float* p = pos_table + static_cast<int64_t>(positions[r]) * n;
      for (int64_t j = 0; j < n; ++j) o[j] += p[j];
    }
  }
}

}  // namespace llmserve
