// Primitives against straightforward double-precision references: the row
// kernels (odd sizes, so vector tails run), both RoPE pairings, and Linear
// (oneDNN f32 with padded weight layouts, bias and residual accumulation; bf16).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/primitives/cpu_kernels.h"
#include "engine/primitives/linear.h"

namespace llmserve {
namespace {

std::vector<float> Random(std::size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(CpuKernelsTest, RmsNormMatchesReference) {
  for (int64_t n : {1, 7, 8, 64, 77, 768}) {
    const int64_t rows = 3;
    auto x = Random(rows * n, 1), w = Random(n, 2);
    std::vector<float> out(rows * n);
    RmsNorm(x.data(), w.data(), rows, n, 1e-5f, out.data());
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t j = 0; j < n; ++j) ss += double{x[r * n + j]} * x[r * n + j];
      const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
      for (int64_t j = 0; j < n; ++j) {
        EXPECT_NEAR(out[r * n + j], w[j] * x[r * n + j] * inv, 1e-5 * (1 + std::abs(w[j] * x[r * n + j] * inv)))
            << "n " << n;
      }
    }
  }
}

TEST(CpuKernelsTest, LayerNormMatchesReference) {
  const int64_t rows = 2, n = 37;
  auto x = Random(rows * n, 3, 4.0f), w = Random(n, 4), b = Random(n, 5);
  std::vector<float> out(rows * n);
  LayerNorm(x.data(), w.data(), b.data(), rows, n, 1e-5f, out.data());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < n; ++j) mean += x[r * n + j];
    mean /= n;
    for (int64_t j = 0; j < n; ++j) var += (x[r * n + j] - mean) * (x[r * n + j] - mean);
    var /= n;
    for (int64_t j = 0; j < n; ++j) {
      EXPECT_NEAR(out[r * n + j], (x[r * n + j] - mean) / std::sqrt(var + 1e-5) * w[j] + b[j], 1e-5);
    }
  }
}

TEST(CpuKernelsTest, SiluAndMulAndGeluMatchReference) {
  for (int64_t ffn : {1, 9, 16, 172}) {
    const int64_t rows = 2;
    auto gu = Random(rows * 2 * ffn, 6, 5.0f);
    gu[0] = -95.0f;  // saturates exp
    gu[1 % (2 * ffn)] = 95.0f;
    std::vector<float> out(rows * ffn);
    SiluAndMul(gu.data(), rows, ffn, out.data());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < ffn; ++j) {
        const double g = gu[r * 2 * ffn + j], u = gu[r * 2 * ffn + ffn + j];
        const double want = g / (1 + std::exp(-g)) * u;
        EXPECT_NEAR(out[r * ffn + j], want, 1e-5 * (1 + std::abs(want))) << "ffn " << ffn;
      }
    }
  }
  auto x = Random(1001, 7, 3.0f);
  const auto ref = x;
  GeluTanh(x.data(), static_cast<int64_t>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = ref[i];
    const double want = 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    EXPECT_NEAR(x[i], want, 2e-6 * (1 + std::abs(want)));
  }
}

TEST(CpuKernelsTest, RopeRotatesPairsByPositionAngles) {
  const int heads = 2, kv_heads = 1, head_dim = 8, max_pos = 16;
  std::vector<float> table(max_pos * head_dim);
  RopeTable(max_pos, head_dim, 10000.0f, table.data());
  for (RopeStyle style : {RopeStyle::kInterleaved, RopeStyle::kHalf}) {
    const int64_t stride = (heads + 2 * kv_heads) * head_dim;
    auto qkv = Random(2 * stride, 8);
    const auto before = qkv;
    const int32_t positions[2] = {0, 11};
    ApplyRope(qkv.data(), stride, 2, positions, heads, kv_heads, head_dim, style, table.data());
    for (int r = 0; r < 2; ++r) {
      for (int h = 0; h < heads + 2 * kv_heads; ++h) {
        for (int i = 0; i < head_dim / 2; ++i) {
          const int a = style == RopeStyle::kInterleaved ? 2 * i : i;
          const int b = style == RopeStyle::kInterleaved ? 2 * i + 1 : i + head_dim / 2;
          const int64_t base = r * stride + h * head_dim;
          const double angle = positions[r] * std::pow(10000.0, -2.0 * i / head_dim);
          const double x = before[base + a], y = before[base + b];
          const bool rotated = h < heads + kv_heads;  // q and k; v untouched
          EXPECT_NEAR(qkv[base + a], rotated ? x * std::cos(angle) - y * std::sin(angle) : x, 1e-5);
          EXPECT_NEAR(qkv[base + b], rotated ? x * std::sin(angle) + y * std::cos(angle) : y, 1e-5);
        }
      }
    }
  }
}

// y = x Wᵀ + b (+ y_before), in double.
std::vector<double> ReferenceLinear(const std::vector<float>& x, const std::vector<float>& w,
                                    const std::vector<float>& b, const std::vector<float>& y0,
                                    int64_t m, int64_t in, int64_t out) {
  std::vector<double> y(m * out);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t o = 0; o < out; ++o) {
      double s = b.empty() ? 0 : b[o];
      for (int64_t k = 0; k < in; ++k) s += double{x[i * in + k]} * w[o * in + k];
      y[i * out + o] = s + (y0.empty() ? 0 : y0[i * out + o]);
    }
  }
  return y;
}

TEST(LinearTest, F32MatchesReferenceForEveryRowCountWithBiasAndAccumulate) {
  // out = 256 takes the padded-row-stride layout; 100 does not.
  for (int64_t out : {100, 256}) {
    const int64_t in = 72;
    auto w = Random(out * in, 9, 0.1f), b = Random(out, 10);
    for (bool accumulate : {false, true}) {
      auto lin = Linear::Create(HostTensor::FromFloats(w, {out, in}), HostTensor::FromFloats(b, {out}),
                                DType::kF32, accumulate);
      ASSERT_TRUE(lin.ok()) << lin.status();
      EXPECT_EQ((*lin)->in_features(), in);
      EXPECT_EQ((*lin)->out_features(), out);
      for (int64_t m : {1, 3, 17}) {
        auto x = Random(m * in, 11 + m);
        auto y = Random(m * out, 12);
        const auto y0 = accumulate ? y : std::vector<float>();
        (*lin)->Forward(x.data(), m, y.data());
        const auto want = ReferenceLinear(x, w, b, y0, m, in, out);
        for (std::size_t i = 0; i < want.size(); ++i) {
          ASSERT_NEAR(y[i], want[i], 1e-4) << "out " << out << " m " << m << " acc " << accumulate;
        }
      }
    }
  }
}

TEST(LinearTest, Bf16StoresHalfTheBytesWithinBf16Precision) {
  const int64_t out = 47, in = 100, m = 5;  // partial row, column and K tails
  auto w = Random(out * in, 13, 0.1f);
  auto f32 = Linear::Create(HostTensor::FromFloats(w, {out, in}), HostTensor(), DType::kF32, false);
  auto bf16 = Linear::Create(HostTensor::FromFloats(w, {out, in}), HostTensor(), DType::kBF16, false);
  ASSERT_TRUE(f32.ok() && bf16.ok());
  EXPECT_LE((*bf16)->weight_bytes() * 2, (*f32)->weight_bytes() + 64 * in);
  auto x = Random(m * in, 14);
  std::vector<float> y(m * out);
  (*bf16)->Forward(x.data(), m, y.data());
  const auto want = ReferenceLinear(x, w, {}, {}, m, in, out);
  for (std::size_t i = 0; i < want.size(); ++i) {
    // Each weight is rounded to 8 significant bits (relative error ≤ 2^-9).
    double bound = 0;
    const int64_t row = static_cast<int64_t>(i) / out, col = static_cast<int64_t>(i) % out;
    for (int64_t k = 0; k < in; ++k) bound += std::abs(double{x[row * in + k]} * w[col * in + k]);
    EXPECT_NEAR(y[i], want[i], bound * std::ldexp(1.0, -9) + 1e-5);
  }
}

TEST(LinearTest, RejectsBadShapes) {
  auto w = Random(12, 15);
  EXPECT_FALSE(Linear::Create(HostTensor::FromFloats(w, {12}), HostTensor(), DType::kF32, false).ok());
  EXPECT_FALSE(Linear::Create(HostTensor::FromFloats(w, {3, 4}), HostTensor::FromFloats({1, 2}, {2}),
                              DType::kF32, false).ok());
  EXPECT_FALSE(Linear::Create(HostTensor::FromFloats(w, {3, 4}), HostTensor(), DType::kF16, false).ok());
}

}  // namespace
}  // namespace llmserve
