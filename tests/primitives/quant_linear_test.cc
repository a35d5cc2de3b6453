// Quantized weights (issue #20): the quantizers against llama.cpp's formulas
// and files, and every quantized matmul kernel at every CPU-ISA level this
// host has against a float64 dot product of the dequantized weights with the
// quantized activations the kernel was given.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/common/cpu_isa.h"
#include "engine/common/ggml_blocks.h"
#include "engine/primitives/linear.h"
#include "engine/primitives/quant_kernels.h"
#include "engine/primitives/quant_repack.h"
#include "engine/primitives/quantize.h"
#include "tests/primitives/gguf_test_reader.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

std::vector<float> Random(std::size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(FloatToHalfTest, RoundsToNearestEvenAndRoundTripsEveryHalf) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // rounds up to inf
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);          // tie → even (0)
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);          // tie → even (2)
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);   // tie → even
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(3.0f, -11)), 0x3c02);   // tie → even
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) continue;  // NaN payloads
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

// llama.cpp's quantize_row_q8_0_ref / _q4_0_ref on hand-computed blocks.
TEST(QuantizeTest, Q8_0AndQ4_0FollowLlamaCppFormulas) {
  std::vector<float> x(64);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);  // amax 16 (the first value)
  for (int j = 32; j < 64; ++j) x[j] = 0.0f;                        // all-zero block
  BlockQ8_0 q8[2];
  QuantizeRowQ8_0(x.data(), 64, q8);
  EXPECT_EQ(q8[0].d, FloatToHalf(16.0f / 127.0f));
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(q8[0].qs[j], static_cast<int8_t>(std::roundf(x[j] * (127.0f / 16.0f)))) << j;
  }
  EXPECT_EQ(q8[0].qs[0], -127);
  EXPECT_EQ(q8[1].d, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(q8[1].qs[j], 0);

  BlockQ4_0 q4[2];
  QuantizeRowQ4_0(x.data(), 64, q4);
  // max = −16 (the first of largest magnitude) → d = −16 / −8 = 2, id = 0.5;
  // q = min(15, (int8)(x/2 + 8.5)).
  EXPECT_EQ(q4[0].d, FloatToHalf(2.0f));
  for (int j = 0; j < 16; ++j) {
    const int lo = std::min(15, static_cast<int>((x[j] * 0.5f + 8.5f)));
    const int hi = std::min(15, static_cast<int>((x[j + 16] * 0.5f + 8.5f)));
    EXPECT_EQ(q4[0].qs[j] & 0xF, lo) << j;
    EXPECT_EQ(q4[0].qs[j] >> 4, hi) << j;
  }
  EXPECT_EQ(q4[0].qs[0] & 0xF, 0);   // −16 → 0 → (0 − 8) · 2 = −16
  EXPECT_EQ(q4[0].qs[15] >> 4, 15);  // 15 → min(15, 16)
  EXPECT_EQ(q4[1].d, 0x8000);  // d = 0 / −8 = −0 (as llama.cpp)
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q4[1].qs[j], 0x88);  // zero → 8 in both nibbles
}

TEST(QuantizeTest, RoundTripIsWithinHalfAStep) {
  const int64_t n = 32 * 40;
  const auto x = Random(n, 7, 3.0f);
  std::vector<BlockQ8_0> q8(n / 32);
  std::vector<BlockQ4_0> q4(n / 32);
  QuantizeRowQ8_0(x.data(), n, q8.data());
  QuantizeRowQ4_0(x.data(), n, q4.data());
  std::vector<float> y8(n), y4(n);
  DequantizeRow(DType::kQ8_0, q8.data(), n, y8.data());
  DequantizeRow(DType::kQ4_0, q4.data(), n, y4.data());
  for (int64_t i = 0; i < n; ++i) {
    const float d8 = HalfToFloat(q8[i / 32].d), d4 = std::fabs(HalfToFloat(q4[i / 32].d));
    // Half a step, plus the f16 rounding of d over 127 (or 8) steps.
    EXPECT_LE(std::fabs(y8[i] - x[i]), 0.5f * d8 + 127.0f * d8 * 1e-3f) << i;
    // Q4_0's range is [−8d, 7d]: the value +8|d| side clamps to 7 (one full step).
    EXPECT_LE(std::fabs(y4[i] - x[i]), 1.0f * d4 + 8.0f * d4 * 1e-3f) << i;
  }
}

// Activation quantization: |q| ≤ 127, x ≈ d·q within half a step, sums exact.
TEST(QuantizeTest, ActivationsAreBlockInt8WithExactSums) {
  for (int block : {32, 256}) {
    const int64_t rows = 3, n = 512;
    auto x = Random(rows * n, 9, 2.0f);
    QuantizedActivations qa;
    QuantizeActivations(x.data(), rows, n, block, &qa);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < n; ++k) {
        const float d = qa.row_d(r)[k / block];
        EXPECT_LE(std::abs(qa.row_qs(r)[k]), 127);
        EXPECT_LE(std::fabs(d * qa.row_qs(r)[k] - x[r * n + k]), 0.5001f * d);
      }
      for (int64_t s = 0; s < n / 16; ++s) {
        int sum = 0;
        for (int k = 0; k < 16; ++k) sum += qa.row_qs(r)[16 * s + k];
        EXPECT_EQ(qa.row_sum16(r)[s], sum);
      }
    }
  }
}

// Random blocks of `type` for [out, in]: every bit pattern of the quants and
// scales, with f16 super-scales in a sane range.
std::vector<uint8_t> RandomBlocks(DType type, int64_t out, int64_t in, uint32_t seed) {
  const int64_t row = DTypeRowBytes(type, in);
  std::vector<uint8_t> w(out * row);
  std::mt19937 rng(seed);
  for (uint8_t& b : w) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  const int64_t bb = DTypeBlockBytes(type);
  for (int64_t off = 0; off < static_cast<int64_t>(w.size()); off += bb) {
    const uint16_t d = FloatToHalf(rng() % 2 ? scale(rng) : -scale(rng));
    const uint16_t dmin = FloatToHalf(scale(rng));
    switch (type) {
      case DType::kQ8_0:
      case DType::kQ4_0:
      case DType::kQ4_K:
        std::memcpy(&w[off], &d, 2);
        if (type == DType::kQ4_K) std::memcpy(&w[off + 2], &dmin, 2);
        break;
      case DType::kQ6_K:
        std::memcpy(&w[off + offsetof(BlockQ6_K, d)], &d, 2);
        break;
      default:
        break;
    }
  }
  return w;
}

// The float64 reference: Σ deq(W)[o, k] · d_x · q_x[k] (+ bias, + y0), and
// the magnitude Σ |terms| the 1e-5 relative tolerance scales with (the
// result itself may cancel to ~0).
void ExpectMatchesFloat64(DType type, const std::vector<uint8_t>& w, int64_t out, int64_t in,
                          const QuantizedActivations& qa, const std::vector<float>& bias,
                          const std::vector<float>& y0, const std::vector<float>& y,
                          const std::string& what) {
  const int64_t row = DTypeRowBytes(type, in);
  std::vector<float> wd(in);
  for (int64_t o = 0; o < out; ++o) {
    DequantizeRow(type, w.data() + o * row, in, wd.data());
    for (int64_t r = 0; r < qa.rows; ++r) {
      double sum = 0, mag = 0;
      for (int64_t k = 0; k < in; ++k) {
        const double t = double{wd[k]} * qa.row_d(r)[k / qa.block] * qa.row_qs(r)[k];
        sum += t;
        mag += std::fabs(t);
      }
      if (!bias.empty()) sum += bias[o], mag += std::fabs(bias[o]);
      if (!y0.empty()) sum += y0[r * out + o], mag += std::fabs(y0[r * out + o]);
      ASSERT_NEAR(y[r * out + o], sum, 1e-5 * mag + 1e-30)
          << what << " row " << r << " out " << o;
    }
  }
}

std::vector<CpuIsa> HostIsas() {
  std::vector<CpuIsa> isas = {CpuIsa::kScalar};
  if (DetectedCpuIsa() >= CpuIsa::kAvx2) isas.push_back(CpuIsa::kAvx2);
  if (DetectedCpuIsa() >= CpuIsa::kAvx512) isas.push_back(CpuIsa::kAvx512);
  return isas;
}

// The row-interleaved layout is a permutation (Q6_K: a re-encoding) of the
// blocks: every row dequantizes to exactly ggml's dequantization of the
// original row, and the padding rows of the last group have zero scales.
TEST(QuantRepackTest, PackedRowsDequantizeAsTheOriginalBlocks) {
  for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    for (int64_t out : {1L, 16L, 37L}) {
      const int64_t in = type == DType::kQ6_K || type == DType::kQ4_K ? 512 : 96;
      const int64_t row = DTypeRowBytes(type, in);
      const auto w = RandomBlocks(type, out, in, static_cast<uint32_t>(out));
      const PackedQuantLayout layout = PackedLayoutFor(type, out, in);
      EXPECT_EQ(layout.groups, (out + 15) / 16);
      EXPECT_EQ(layout.group_bytes % 64, 0);
      // Q4_K: + 4 B per row and super-block (its 6-bit scales unpacked).
      const int64_t extra = type == DType::kQ4_K ? 16 * 4 * (in / 256) : 0;
      EXPECT_GE(layout.group_bytes, 16 * row + extra);
      EXPECT_LT(layout.group_bytes, 16 * row + extra + 64);
      std::vector<uint8_t> packed(layout.total_bytes(), 0xAB);
      RepackQuantGroups(layout, w.data(), row, 0, layout.groups, packed.data());
      std::vector<float> want(in), got(in);
      for (int64_t o = 0; o < out; ++o) {
        DequantizeRow(type, w.data() + o * row, in, want.data());
        DequantizePackedRow(layout, packed.data(), o, got.data());
        for (int64_t k = 0; k < in; ++k) ASSERT_EQ(got[k], want[k]) << DTypeName(type) << " " << o << " " << k;
      }
      // A range as the prefill's tiles ask for it (here from row 3: a partial
      // first group), the same values.
      std::vector<float> range((out - 3 > 0 ? out - 3 : 0) * in);
      if (out > 3) DequantizePackedRows(layout, packed.data(), 3, out, range.data());
      for (int64_t o = 3; o < out; ++o) {
        DequantizeRow(type, w.data() + o * row, in, want.data());
        for (int64_t k = 0; k < in; ++k) ASSERT_EQ(range[(o - 3) * in + k], want[k]) << "range row " << o;
      }
      for (int64_t o = out; o < layout.groups * 16; ++o) {
        DequantizePackedRow(layout, packed.data(), o, got.data());
        for (int64_t k = 0; k < in; ++k) ASSERT_EQ(got[k], 0.0f) << "padding row " << o;
      }
    }
  }
}

TEST(QuantKernelTest, EveryKernelEqualsTheFloat64DotOfWhatItWasGiven) {
  for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    const int block = QuantActivationBlock(type);
    for (CpuIsa isa : HostIsas()) {
      const QuantKernel kernel = QuantKernelFor(type, isa);
      ASSERT_NE(kernel.fn, nullptr);
      const std::string suffix = "_r16";  // every type in 16-row groups
      if (isa == CpuIsa::kAvx512 && CpuHasAvx512Vnni()) {
        EXPECT_EQ(kernel.name, "own_avx512_vnni" + suffix);
      } else if (isa >= CpuIsa::kAvx2) {
        EXPECT_EQ(kernel.name, "own_avx2" + suffix);
      } else {
        EXPECT_EQ(kernel.name, "own_scalar" + suffix);
      }
      // in: 1, 3 and 6 blocks (32) or super-blocks (256); out not a multiple
      // of the 4-row tile nor of the 16-row group. M: the 4-activation-row
      // register blocking's remainders 1, 3, 2 (6) and 3 (63), and > 64; the
      // 8-row blocking of Q6_K on AVX-512: 8 + 8 + 1 (17), 4 + 2 (6),
      // 7 · 8 + 4 + 3 (63).
      for (int64_t in : {static_cast<int64_t>(block), 3L * block, 6L * block}) {
        for (int64_t out : {1L, 7L, 37L}) {
          const auto w = RandomBlocks(type, out, in, static_cast<uint32_t>(in + out));
          // What the kernel reads: the blocks repacked.
          const PackedQuantLayout layout = PackedLayoutFor(type, out, in);
          std::vector<uint8_t> wk(layout.total_bytes(), 0);
          RepackQuantGroups(layout, w.data(), DTypeRowBytes(type, in), 0, layout.groups, wk.data());
          const int64_t stride = layout.group_bytes;
          const auto bias = Random(out, 3);
          for (int64_t m : {1L, 3L, 6L, 17L, 63L, 64L, 200L}) {
            if (in > 3L * block && m > 17) continue;  // keep the f64 reference quick
            const auto x = Random(m * in, static_cast<uint32_t>(m), 1.5f);
            QuantizedActivations qa;
            QuantizeActivations(x.data(), m, in, block, &qa);
            for (bool acc : {false, true}) {
              std::vector<float> y = Random(m * out, 5), y0 = acc ? y : std::vector<float>();
              QuantMatmulArgs args;
              args.w = wk.data();
              args.w_row_bytes = stride;
              args.in = in;
              args.x = &qa;
              args.bias = acc ? bias.data() : nullptr;
              args.accumulate = acc;
              args.y = y.data();
              args.ldy = out;
              // Two calls (as two threads would make), split at a group boundary.
              const int64_t split = std::min<int64_t>(out, 16);
              kernel.fn(args, 0, split);
              if (split < out) kernel.fn(args, split, out);
              ASSERT_NO_FATAL_FAILURE(ExpectMatchesFloat64(
                  type, w, out, in, qa, acc ? bias : std::vector<float>(), y0, y,
                  ::testing::PrintToString(std::string(DTypeName(type))) + " " + CpuIsaName(isa) +
                      " " + kernel.name + " in " + std::to_string(in) + " out " +
                      std::to_string(out) + " m " + std::to_string(m) +
                      (acc ? " acc+bias" : "")));
            }
          }
        }
      }
    }
  }
}

// Through Linear (the active ISA; `make test-isa` lowers it): the blocks are
// repacked at load; below 64 rows the result equals the int8 kernel's reference,
// from 64 rows (the dequantize + oneDNN path) the float64 dot of the
// dequantized weights with the activations, both rounded to bf16 where that
// path runs in bf16.
TEST(QuantLinearTest, QuantizedWeightsThroughLinear) {
  for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    const int block = QuantActivationBlock(type);
    const int64_t out = 70, in = 2L * std::max(block, 256);
    auto w = std::make_shared<std::vector<uint8_t>>(RandomBlocks(type, out, in, 11));
    const HostTensor wt = HostTensor::View(type, {out, in}, w->data(), w);
    const auto b = Random(out, 12);
    auto lin = Linear::Create(wt, HostTensor::FromFloats(b, {out}), DType::kF32, true);
    ASSERT_TRUE(lin.ok()) << lin.status();
    EXPECT_EQ((*lin)->backend(), LinearBackendKind::kQuantized);
    EXPECT_EQ((*lin)->weight_dtype(), type);
    // Repacked in 16-row groups (70 → 80 rows, + ≤ 63 B per group).
    const int64_t held = PackedLayoutFor(type, out, in).total_bytes();
    EXPECT_EQ((*lin)->weight_bytes(), held + out * 4);
    EXPECT_NE((*lin)->implementation().find(std::string(DTypeName(type))), std::string::npos);
    std::vector<float> all;
    for (int64_t m : {1L, 3L, 17L, 63L, 64L, 200L}) {
      const auto x = Random(200 * in, 13, 1.5f);
      std::vector<float> y = Random(m * out, 14), y0 = y;
      (*lin)->Forward(x.data(), m, y.data());
      const std::string impl = (*lin)->ImplementationForRows(m);
      if (impl.find("dequant") == std::string::npos) {
        EXPECT_EQ(impl.find("q8x"), 0u) << impl;
        QuantizedActivations qa;
        QuantizeActivations(x.data(), m, in, block, &qa);
        ASSERT_NO_FATAL_FAILURE(ExpectMatchesFloat64(type, *w, out, in, qa, b, y0, y, impl));
        continue;
      }
      EXPECT_GE(m, 64) << impl;
      const bool bf16 = impl.rfind("bf16x", 0) == 0;
      const auto round = [bf16](float v) {
        return bf16 ? BFloat16ToFloat(FloatToBFloat16(v)) : v;
      };
      std::vector<float> wd(in);
      for (int64_t o = 0; o < out; ++o) {
        DequantizeRow(type, w->data() + o * DTypeRowBytes(type, in), in, wd.data());
        for (int64_t r = 0; r < m; ++r) {
          double sum = double{b[o]} + y0[r * out + o];
          double mag = std::fabs(b[o]) + std::fabs(y0[r * out + o]);
          for (int64_t k = 0; k < in; ++k) {
            const double t = double{round(wd[k])} * round(x[r * in + k]);
            sum += t;
            mag += std::fabs(t);
          }
          ASSERT_NEAR(y[r * out + o], sum, 1e-5 * mag) << impl << " m " << m << " row " << r;
        }
      }
    }
  }
}

TEST(QuantLinearTest, QuantizesFloatWeightsAtLoadAsLlamaCpp) {
  const int64_t out = 9, in = 64;
  const auto w = Random(out * in, 21, 0.3f);
  for (DType type : {DType::kQ8_0, DType::kQ4_0}) {
    auto lin = Linear::Create(HostTensor::FromFloats(w, {out, in}), HostTensor(), type, false);
    ASSERT_TRUE(lin.ok()) << lin.status();
    EXPECT_EQ((*lin)->weight_dtype(), type);
    EXPECT_EQ((*lin)->weight_bytes(), PackedLayoutFor(type, out, in).total_bytes());
    // The same as quantizing with QuantizeRow* and running the blocks in place.
    std::vector<uint8_t> blocks(out * DTypeRowBytes(type, in));
    for (int64_t o = 0; o < out; ++o) {
      uint8_t* dst = blocks.data() + o * DTypeRowBytes(type, in);
      if (type == DType::kQ8_0) {
        QuantizeRowQ8_0(w.data() + o * in, in, reinterpret_cast<BlockQ8_0*>(dst));
      } else {
        QuantizeRowQ4_0(w.data() + o * in, in, reinterpret_cast<BlockQ4_0*>(dst));
      }
    }
    const auto x = Random(5 * in, 22);
    std::vector<float> y(5 * out);
    (*lin)->Forward(x.data(), 5, y.data());
    QuantizedActivations qa;
    QuantizeActivations(x.data(), 5, in, 32, &qa);
    ASSERT_NO_FATAL_FAILURE(ExpectMatchesFloat64(type, blocks, out, in, qa, {}, {}, y, "at load"));
  }
}

TEST(QuantLinearTest, RejectsRowsThatAreNotWholeBlocks) {
  const auto w = Random(4 * 48, 1);
  auto lin = Linear::Create(HostTensor::FromFloats(w, {4, 48}), HostTensor(), DType::kQ8_0, false);
  EXPECT_EQ(lin.status().code(), absl::StatusCode::kInvalidArgument);
  auto k = Linear::Create(HostTensor::FromFloats(w, {4, 48}), HostTensor(), DType::kQ4_K, false);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
}

// llama.cpp's files: dequantization of every Q8_0 / Q4_0 / Q4_K / Q6_K tensor
// of random-llama-256 is close to the F32 file's tensor (a wrong block layout
// is off by O(1)), and so is, bit for bit, that of its repacked layout; and llama-quantize's Q8_0 / Q4_0 blocks (made without an
// importance matrix, i.e. by quantize_row_*_ref) equal QuantizeRow* of the
// F32 tensor byte for byte.
TEST(QuantGgufTest, DequantizesLlamaCppFilesAndRequantizesBitExactly) {
  const std::string dir = ::llmserve::testing::SharedPath("models/random-llama-256-gguf/");
  auto f32 = testing_gguf::ReadGgufTensors(dir + "random-llama-256-f32.gguf");
  ASSERT_TRUE(f32.ok()) << f32.status();
  int checked[4] = {0, 0, 0, 0}, exact = 0;
  for (const char* name : {"q8_0", "q4_0", "q4_k_m", "q6_k"}) {
    auto file = testing_gguf::ReadGgufTensors(dir + "random-llama-256-" + name + ".gguf");
    ASSERT_TRUE(file.ok()) << file.status();
    for (const auto& [tname, t] : file->tensors) {
      if (!IsQuantized(t.dtype)) continue;
      const auto ref = f32->tensors.find(tname);
      ASSERT_NE(ref, f32->tensors.end()) << tname;
      ASSERT_EQ(ref->second.dtype, DType::kF32) << tname;
      ASSERT_EQ(ref->second.rows * ref->second.cols, t.rows * t.cols) << tname;
      const int64_t n = t.rows * t.cols;
      std::vector<float> deq(n);
      const int64_t row = DTypeRowBytes(t.dtype, t.cols);
      for (int64_t r = 0; r < t.rows; ++r) {
        DequantizeRow(t.dtype, t.data + r * row, t.cols, deq.data() + r * t.cols);
      }
      const float* want = reinterpret_cast<const float*>(ref->second.data);
      double err = 0, norm = 0;
      for (int64_t i = 0; i < n; ++i) {
        err += (deq[i] - want[i]) * double{deq[i] - want[i]};
        norm += double{want[i]} * want[i];
      }
      // The repacked layout dequantizes to the same floats on real blocks.
      const PackedQuantLayout layout = PackedLayoutFor(t.dtype, t.rows, t.cols);
      std::vector<uint8_t> packed(layout.total_bytes());
      RepackQuantGroups(layout, t.data, row, 0, layout.groups, packed.data());
      std::vector<float> unpacked(n);
      DequantizePackedRows(layout, packed.data(), 0, t.rows, unpacked.data());
      ASSERT_EQ(std::memcmp(unpacked.data(), deq.data(), n * sizeof(float)), 0) << name << " " << tname;
      const double rel = std::sqrt(err / norm);
      const double limit = t.dtype == DType::kQ8_0 ? 0.01 : t.dtype == DType::kQ6_K ? 0.03 : 0.15;
      EXPECT_LT(rel, limit) << name << " " << tname << " " << DTypeName(t.dtype);
      ++checked[t.dtype == DType::kQ8_0 ? 0 : t.dtype == DType::kQ4_0 ? 1 : t.dtype == DType::kQ4_K ? 2 : 3];
      if (t.dtype == DType::kQ8_0 || t.dtype == DType::kQ4_0) {
        std::vector<uint8_t> mine(t.rows * row);
        for (int64_t r = 0; r < t.rows; ++r) {
          if (t.dtype == DType::kQ8_0) {
            QuantizeRowQ8_0(want + r * t.cols, t.cols, reinterpret_cast<BlockQ8_0*>(&mine[r * row]));
          } else {
            QuantizeRowQ4_0(want + r * t.cols, t.cols, reinterpret_cast<BlockQ4_0*>(&mine[r * row]));
          }
        }
        EXPECT_EQ(std::memcmp(mine.data(), t.data, mine.size()), 0)
            << name << " " << tname << ": QuantizeRow differs from llama-quantize";
        ++exact;
      }
    }
  }
  for (int i = 0; i < 4; ++i) EXPECT_GT(checked[i], 0) << "type " << i << " not in the files";
  EXPECT_GT(exact, 0);
}

}  // namespace
}  // namespace llmserve
