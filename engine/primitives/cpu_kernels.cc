#include "engine/primitives/cpu_kernels.h"

#include <cmath>
#include <cstring>

namespace llmserve {

void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps, float* out) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* o = out + r * n;
    float ss = 0.0f;
    for (int64_t j = 0; j < n; ++j) ss += xr[j] * xr[j];
    ss /= static_cast<float>(n);
    ss += eps;
    ss = 1.0f / std::sqrt(ss);
    for (int64_t j = 0; j < n; ++j) o[j] = weight[j] * (ss * xr[j]);
  }
}

void LayerNorm(const float* x, const float* weight, const float* bias, int64_t rows, int64_t n,
               float eps, float* out) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* o = out + r * n;
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
    const float* u = g + ffn;
    float* o = out + r * ffn;
    for (int64_t j = 0; j < ffn; ++j) {
      const float v = g[j];
      o[j] = v * (1.0f / (1.0f + std::exp(-v))) * u[j];
    }
  }
}

void GeluTanh(float* x, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
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
