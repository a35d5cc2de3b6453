// Primitives against straightforward double-precision references: the row
// kernels (odd sizes, so vector tails run), both RoPE pairings, and Linear
// (oneDNN f32 with padded weight layouts, bias and residual accumulation; bf16),
// on whichever ISA path LLMSERVE_CPU_ISA selects (`make test-isa` runs them all).
// The bf16 conversions and the fused *ToBf16 kernels are bitwise equal to the
// scalar rounding of the f32 kernels (same algorithm on every path).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/common/cpu_isa.h"
#include "engine/primitives/bf16_convert.h"
#include "engine/primitives/bf16_matmul.h"
#include "engine/primitives/blocked_gemv.h"
#include "engine/primitives/cpu_kernels.h"
#include "engine/primitives/linear.h"
#include "engine/primitives/plain_gemv.h"

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
        EXPECT_NEAR(out[r * n + j], w[j] * x[r * n + j] * inv,
                    1e-5 * (1 + std::abs(w[j] * x[r * n + j] * inv)))
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
      EXPECT_NEAR(out[r * n + j], (x[r * n + j] - mean) / std::sqrt(var + 1e-5) * w[j] + b[j],
                  1e-5);
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

/// Asserts y ([m, out]) equals ReferenceLinear on the same operands (as the
/// backend holds them: bf16 ones rounded) up to f32 arithmetic: at most
/// (in + 4) roundings of 2^-24 relative to the sum of |terms| (in products,
/// bias, the accumulated y0, and the f32 x bf16 product rounding of the own
/// kernels). `what` names the case in a failure.
void ExpectNearReferenceLinear(const std::vector<float>& y, const std::vector<float>& x,
                               const std::vector<float>& w, const std::vector<float>& b,
                               const std::vector<float>& y0, int64_t m, int64_t in, int64_t out,
                               const std::string& what) {
  const auto want = ReferenceLinear(x, w, b, y0, m, in, out);
  ASSERT_EQ(y.size(), want.size()) << what;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const int64_t row = static_cast<int64_t>(i) / out, col = static_cast<int64_t>(i) % out;
    double mag = b.empty() ? 0.0 : std::abs(double{b[col]});
    if (!y0.empty()) mag += std::abs(double{y0[i]});
    for (int64_t k = 0; k < in; ++k) mag += std::abs(double{x[row * in + k]} * w[col * in + k]);
    ASSERT_NEAR(y[i], want[i], (in + 4) * 0x1p-24 * mag + 1e-30) << what << " i " << i;
  }
}

TEST(LinearTest, F32MatchesReferenceForEveryRowCountWithBiasAndAccumulate) {
  // out = 256 takes the padded-row-stride layout; 100 does not.
  for (int64_t out : {100, 256}) {
    const int64_t in = 72;
    auto w = Random(out * in, 9, 0.1f), b = Random(out, 10);
    for (bool accumulate : {false, true}) {
      auto lin = Linear::Create(HostTensor::FromFloats(w, {out, in}),
                                HostTensor::FromFloats(b, {out}), DType::kF32, accumulate);
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

// Rounds to bf16 and back (what a bf16 operand holds).
float RoundBf16(float x) { return BFloat16ToFloat(FloatToBFloat16(x)); }

TEST(LinearTest, Bf16StoresHalfTheBytesWithinBf16Precision) {
  const int64_t out = 47, in = 100;  // partial row, column and K tails
  auto w = Random(out * in, 13, 0.1f);
  auto f32 = Linear::Create(HostTensor::FromFloats(w, {out, in}), HostTensor(), DType::kF32, false);
  auto bf16 =
      Linear::Create(HostTensor::FromFloats(w, {out, in}), HostTensor(), DType::kBF16, false);
  ASSERT_TRUE(f32.ok() && bf16.ok());
  EXPECT_LE((*bf16)->weight_bytes() * 2, (*f32)->weight_bytes() + 64 * in);
  // Below AVX-512 oneDNN 2.6 has no bf16 matmul: the own f32 x bf16 kernel runs.
  if (!CpuIsaAtLeast(CpuIsa::kAvx512)) {
    EXPECT_EQ((*bf16)->backend(), LinearBackendKind::kOwnBf16);
  }
  const bool bf16_input = (*bf16)->input_dtype() == DType::kBF16;
  EXPECT_EQ(bf16_input, (*bf16)->backend() == LinearBackendKind::kDnnlBf16);
  for (int64_t m : {1, 5, 64, 65, 130}) {
    auto x = Random(m * in, 14 + m);
    std::vector<float> y(m * out);
    (*bf16)->Forward(x.data(), m, y.data());
    // Reference on the operands as the backend holds them (weights always
    // bf16, activations bf16 on the oneDNN bf16 backend): products are exact
    // in f32, so only the f32 summation differs from the f64 reference.
    std::vector<float> xr = x, wr = w;
    for (float& v : wr) v = RoundBf16(v);
    if (bf16_input) {
      for (float& v : xr) v = RoundBf16(v);
    }
    const auto want = ReferenceLinear(xr, wr, {}, {}, m, in, out);
    for (std::size_t i = 0; i < want.size(); ++i) {
      double mag = 0;
      const int64_t row = static_cast<int64_t>(i) / out, col = static_cast<int64_t>(i) % out;
      for (int64_t k = 0; k < in; ++k) mag += std::abs(double{xr[row * in + k]} * wr[col * in + k]);
      ASSERT_NEAR(y[i], want[i], mag * 1e-6 + 1e-7) << "m " << m << " i " << i;
    }
    if (bf16_input) {
      // ForwardBf16 on pre-rounded input is bitwise Forward on f32 input.
      std::vector<uint16_t> x16(x.size());
      FloatToBf16(x.data(), static_cast<int64_t>(x.size()), x16.data());
      std::vector<float> y16(m * out);
      (*bf16)->ForwardBf16(x16.data(), m, y16.data());
      EXPECT_EQ(std::memcmp(y16.data(), y.data(), y.size() * sizeof(float)), 0) << "m " << m;
    }
  }
}

TEST(LinearTest, EveryRowCountRegimeMatchesReference) {
  // f32: exact-M primitives (<= 64), padded ones (65..512) and 512-row chunks.
  // bf16: the small-batch rows 1..65 (the own GEMV up to 64 rows on
  // AVX512_BF16 hosts, 8 with AMX, oneDNN beyond and elsewhere, or the own
  // f32 x bf16 kernel), with bias and accumulate. Both cross the GEMV limits
  // (8 / 64) and its switch to k-chunks (more than 4 rows); both in span
  // several chunks of either dtype: 201 ends in half a bf16 pair, 258 (even)
  // takes the embedded-broadcast kernel for full groups of 4 rows.
  const int64_t out = 40;
  for (int64_t in : {201, 258}) {
    auto w = Random(out * in, 21, 0.2f), b = Random(out, 22);
    for (DType dt : {DType::kF32, DType::kBF16}) {
      for (bool accumulate : {false, true}) {
        auto lin = Linear::Create(HostTensor::FromFloats(w, {out, in}),
                                  HostTensor::FromFloats(b, {out}), dt, accumulate);
        ASSERT_TRUE(lin.ok()) << lin.status();
        const std::string impl = (*lin)->implementation();
        if (dt == DType::kF32) {
          EXPECT_EQ(impl.rfind("f32xf32:", 0), 0u) << impl;
        } else {
          EXPECT_TRUE(impl.rfind("bf16xbf16:", 0) == 0 || impl.rfind("f32xbf16:", 0) == 0) << impl;
        }
        // The operands as the backend holds them: bf16 weights always rounded,
        // activations too when the backend takes bf16 input.
        std::vector<float> wr = w;
        if (dt == DType::kBF16) {
          for (float& v : wr) v = RoundBf16(v);
        }
        const bool bf16_input = (*lin)->input_dtype() == DType::kBF16;
        const std::vector<int64_t> rows =
            dt == DType::kF32
                ? std::vector<int64_t>{1,  2,  3,  4,  5,  7,   8,   9,   17,  31,
                                       32, 33, 63, 64, 65, 100, 512, 513, 1100}
                : std::vector<int64_t>{1,  2,  3,  4,  5,  6,  7,  8,  9, 13,
                                       16, 17, 31, 32, 33, 48, 63, 64, 65};
        for (int64_t m : rows) {
          SCOPED_TRACE(::testing::Message()
                       << DTypeName(dt) << " in " << in << " m " << m << " acc " << accumulate
                       << " " << (*lin)->ImplementationForRows(m));
          auto x = Random(m * in, 23 + m);
          auto y = Random(m * out, 24 + m);
          const auto y0 = accumulate ? y : std::vector<float>();
          (*lin)->Forward(x.data(), m, y.data());
          std::vector<float> xr = x;
          if (bf16_input) {
            for (float& v : xr) v = RoundBf16(v);
          }
          ASSERT_NO_FATAL_FAILURE(ExpectNearReferenceLinear(y, xr, wr, b, y0, m, in, out, ""));
          EXPECT_FALSE((*lin)->ImplementationForRows(m).empty());
        }
      }
    }
  }
}

// Up to GemvMaxRows rows run the own GEMV on AVX-512
// (one accumulation chain per output, rows in groups of 4): a row's result is
// bitwise the same alone or in any batch up to that limit. The
// GEMV must be chosen whenever the active ISA allows it (f32: avx512 or
// above; bf16: also AVX512_BF16); only below that may the test skip.
void ExpectGemvRowsIndependentOfTheBatchAtK(DType dt, int64_t in) {
  // LLMSERVE_LINEAR_GEMV=0 (an A/B switch) would keep oneDNN at small M.
  unsetenv("LLMSERVE_LINEAR_GEMV");
  SCOPED_TRACE(::testing::Message() << "in " << in);
  const int64_t out = 130;
  auto w = Random(out * in, 51, 0.2f), b = Random(out, 52);
  auto lin = Linear::Create(HostTensor::FromFloats(w, {out, in}), HostTensor::FromFloats(b, {out}),
                            dt, false);
  ASSERT_TRUE(lin.ok()) << lin.status();
  const int64_t max_rows = GemvMaxRows(dt == DType::kBF16);
  for (int64_t m = 1; m <= max_rows; ++m) {
    EXPECT_NE((*lin)->ImplementationForRows(m).find("own_gemv"), std::string::npos)
        << DTypeName(dt) << " m " << m << " on " << CpuIsaDescription() << ": "
        << (*lin)->ImplementationForRows(m);
  }
  EXPECT_EQ((*lin)->ImplementationForRows(max_rows + 1).find("own_gemv"), std::string::npos);
  auto x = Random(max_rows * in, 53);
  std::vector<float> all(max_rows * out);
  (*lin)->Forward(x.data(), max_rows, all.data());
  for (int64_t m = 1; m <= max_rows; ++m) {
    std::vector<float> some(m * out);
    (*lin)->Forward(x.data(), m, some.data());
    for (int64_t r = 0; r < m; ++r) {
      EXPECT_EQ(std::memcmp(some.data() + r * out, all.data() + r * out, out * sizeof(float)), 0)
          << DTypeName(dt) << " m " << m << " row " << r;
    }
  }
}

// in = 301 and 302: several k-chunks of either dtype (more than 4 rows run in
// chunks, up to 4 in one pass; with an even k, full groups of 4 take the
// embedded-broadcast kernel, the rest the intrinsic one: all the same bits).
void ExpectGemvRowsIndependentOfTheBatch(DType dt) {
  for (int64_t in : {301, 302}) ExpectGemvRowsIndependentOfTheBatchAtK(dt, in);
}

TEST(LinearTest, SmallBatchGemvRowsDoNotDependOnTheBatchF32) {
  if (!CpuIsaAtLeast(CpuIsa::kAvx512)) {
    GTEST_SKIP() << "the own f32 GEMV needs CPU ISA >= avx512; active: " << CpuIsaDescription();
  }
  ExpectGemvRowsIndependentOfTheBatch(DType::kF32);
}

TEST(LinearTest, SmallBatchGemvRowsDoNotDependOnTheBatchBf16) {
  if (!CpuHasAvx512Bf16()) {
    GTEST_SKIP() << "the own bf16 GEMV needs CPU ISA >= avx512 with AVX512_BF16; active: "
                 << CpuIsaDescription();
  }
  ExpectGemvRowsIndependentOfTheBatch(DType::kBF16);
}

// The own f32 x bf16 kernel (the bf16 path below AVX-512): 1–2 rows run in
// tiles of 4 output features, 3–4 rows in tiles of 2 (3 in matmuls of 8 rows
// or more), but every output is the
// same dot product in the same order, so a row's result is bitwise the same
// alone or in any batch; and it matches the f64 reference on the bf16 weights.
// Runs the kernel of the active ISA (AVX2 + FMA, or the portable one).
TEST(Bf16MatmulTest, RowsDoNotDependOnTheBatchAndMatchTheReference) {
  const int64_t out = 71, in = 203;  // a partial last block, tile and k tail
  auto w = Random(out * in, 61, 0.2f), b = Random(out, 62);
  const Bf16Matrix wb = Bf16Matrix::FromFloat(w.data(), out, in);
  std::vector<float> wr = w;
  for (float& v : wr) v = RoundBf16(v);
  const int64_t max_rows = 17;
  auto x = Random(max_rows * in, 63);
  std::vector<float> all(max_rows * out);
  Bf16Matmul(x.data(), max_rows, wb, b.data(), false, all.data());
  ASSERT_NO_FATAL_FAILURE(
      ExpectNearReferenceLinear(all, x, wr, b, {}, max_rows, in, out, Bf16MatmulIsa()));
  for (int64_t m = 1; m < max_rows; ++m) {
    std::vector<float> some(m * out);
    Bf16Matmul(x.data(), m, wb, b.data(), false, some.data());
    EXPECT_EQ(std::memcmp(some.data(), all.data(), some.size() * sizeof(float)), 0)
        << Bf16MatmulIsa() << " m " << m;
  }
}

// The AVX2 GEMV on the plain [k, ld] layout: the f64 reference for every
// row count it serves and beyond (k with a tail of 4, n with a partial last
// vector read into the row padding), and each row bitwise the same alone or in
// a batch (one multiply-add chain per output in k order).
TEST(PlainGemvTest, MatchesReferenceAndRowsDoNotDependOnTheBatch) {
  if (!CpuIsaAtLeast(CpuIsa::kAvx2)) {
    GTEST_SKIP() << "the plain GEMV needs CPU ISA >= avx2; active: " << CpuIsaDescription();
  }
  const int64_t k = 203, n = 71, ld = n + 16;
  auto wt = Random(n * k, 71, 0.2f), b = Random(n, 72);  // [n, k] for the reference
  std::vector<float> w(k * ld, std::numeric_limits<float>::quiet_NaN());  // pad: never stored
  for (int64_t o = 0; o < n; ++o) {
    for (int64_t i = 0; i < k; ++i) w[i * ld + o] = wt[o * k + i];
  }
  const int max_rows = 17;
  auto x = Random(max_rows * k, 73);
  for (bool accumulate : {false, true}) {
    auto all = Random(max_rows * n, 74);
    const auto y0 = accumulate ? all : std::vector<float>();
    GemvPlainF32(x.data(), max_rows, w.data(), k, ld, n, b.data(), accumulate, all.data());
    ASSERT_NO_FATAL_FAILURE(ExpectNearReferenceLinear(
        all, x, wt, b, y0, max_rows, k, n, accumulate ? "acc 1" : "acc 0"));
    for (int m = 1; m < max_rows; ++m) {
      auto some = Random(m * n, 74);
      GemvPlainF32(x.data(), m, w.data(), k, ld, n, b.data(), accumulate, some.data());
      EXPECT_EQ(std::memcmp(some.data(), all.data(), some.size() * sizeof(float)), 0)
          << "acc " << accumulate << " m " << m;
    }
  }
}

TEST(LinearTest, PaddedRowsAreExactUpTo64ThenMultiplesOf64) {
  EXPECT_EQ(Linear::PaddedRows(1), 1);
  EXPECT_EQ(Linear::PaddedRows(64), 64);
  EXPECT_EQ(Linear::PaddedRows(65), 128);
  EXPECT_EQ(Linear::PaddedRows(512), 512);
}

TEST(Bf16ConvertTest, MatchesScalarRoundingBitwiseOnEveryPath) {
  std::vector<float> x = Random(1000, 31, 10.0f);
  const float specials[] = {0.0f,
                            -0.0f,
                            1.0f,
                            1.00390625f /* tie: 1 + 2^-8 */,
                            1.01171875f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::denorm_min(),
                            3.4e38f,
                            -1e-40f};
  x.insert(x.begin() + 3, std::begin(specials), std::end(specials));
  for (int64_t n :
       {int64_t{0}, int64_t{7}, int64_t{16}, int64_t{17}, static_cast<int64_t>(x.size())}) {
    std::vector<uint16_t> got(n + 1, 0xabcd);
    FloatToBf16(x.data(), n, got.data());
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(got[i], FloatToBFloat16(x[i])) << "n " << n << " i " << i;
    EXPECT_EQ(got[n], 0xabcd) << "wrote past n";
  }
}

TEST(CpuKernelsTest, Bf16OutputKernelsAreTheF32KernelsRounded) {
  const int64_t rows = 3, n = 77, ffn = 45;
  auto x = Random(rows * n, 41, 2.0f), w = Random(n, 42), b = Random(n, 43);
  std::vector<float> f(rows * n);
  std::vector<uint16_t> h(rows * n), want(rows * n);
  RmsNorm(x.data(), w.data(), rows, n, 1e-5f, f.data());
  RmsNormToBf16(x.data(), w.data(), rows, n, 1e-5f, h.data());
  for (std::size_t i = 0; i < f.size(); ++i) want[i] = FloatToBFloat16(f[i]);
  EXPECT_EQ(h, want) << "RmsNorm";
  LayerNorm(x.data(), w.data(), b.data(), rows, n, 1e-5f, f.data());
  LayerNormToBf16(x.data(), w.data(), b.data(), rows, n, 1e-5f, h.data());
  for (std::size_t i = 0; i < f.size(); ++i) want[i] = FloatToBFloat16(f[i]);
  EXPECT_EQ(h, want) << "LayerNorm";
  auto gu = Random(rows * 2 * ffn, 44, 3.0f);
  std::vector<float> act(rows * ffn);
  std::vector<uint16_t> act16(rows * ffn), act_want(rows * ffn);
  SiluAndMul(gu.data(), rows, ffn, act.data());
  SiluAndMulToBf16(gu.data(), rows, ffn, act16.data());
  for (std::size_t i = 0; i < act.size(); ++i) act_want[i] = FloatToBFloat16(act[i]);
  EXPECT_EQ(act16, act_want) << "SiluAndMul";
  auto g = Random(10000, 45, 3.0f);
  std::vector<uint16_t> g16(g.size()), g_want(g.size());
  GeluTanhToBf16(g.data(), static_cast<int64_t>(g.size()), g16.data());
  GeluTanh(g.data(), static_cast<int64_t>(g.size()));
  for (std::size_t i = 0; i < g.size(); ++i) g_want[i] = FloatToBFloat16(g[i]);
  EXPECT_EQ(g16, g_want) << "GeluTanh";
}

TEST(LinearTest, RejectsBadShapes) {
  auto w = Random(12, 15);
  EXPECT_FALSE(
      Linear::Create(HostTensor::FromFloats(w, {12}), HostTensor(), DType::kF32, false).ok());
  EXPECT_FALSE(Linear::Create(HostTensor::FromFloats(w, {3, 4}),
                              HostTensor::FromFloats({1, 2}, {2}), DType::kF32, false)
                   .ok());
  EXPECT_FALSE(
      Linear::Create(HostTensor::FromFloats(w, {3, 4}), HostTensor(), DType::kF16, false).ok());
}

}  // namespace
}  // namespace llmserve
