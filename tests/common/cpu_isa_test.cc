// The CPU-ISA dispatcher: names round-trip, the active level never exceeds the
// detected one, and LLMSERVE_CPU_ISA (when the test runs under it, as
// `make test-isa` does) lowers the level to exactly the named one.
#include "engine/common/cpu_isa.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace llmserve {
namespace {

TEST(CpuIsaTest, NamesRoundTrip) {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512, CpuIsa::kAmx}) {
    const std::optional<CpuIsa> parsed = ParseCpuIsa(CpuIsaName(isa));
    ASSERT_TRUE(parsed.has_value()) << CpuIsaName(isa);
    EXPECT_EQ(*parsed, isa);
  }
  EXPECT_FALSE(ParseCpuIsa("avx512f").has_value());
  EXPECT_FALSE(ParseCpuIsa("").has_value());
}

TEST(CpuIsaTest, LevelsAreOrdered) {
  EXPECT_LT(CpuIsa::kScalar, CpuIsa::kAvx2);
  EXPECT_LT(CpuIsa::kAvx2, CpuIsa::kAvx512);
  EXPECT_LT(CpuIsa::kAvx512, CpuIsa::kAmx);
}

TEST(CpuIsaTest, OverrideCanOnlyLower) {
  const CpuIsa detected = DetectedCpuIsa();
  const CpuIsa active = ActiveCpuIsa();
  EXPECT_LE(active, detected);
  const char* env = std::getenv("LLMSERVE_CPU_ISA");
  const std::optional<CpuIsa> wanted = env ? ParseCpuIsa(env) : std::nullopt;
  if (wanted && *wanted <= detected) {
    EXPECT_EQ(active, *wanted);
  } else {
    EXPECT_EQ(active, detected);
  }
  EXPECT_EQ(CpuIsaAtLeast(CpuIsa::kScalar), true);
  EXPECT_EQ(CpuIsaAtLeast(CpuIsa::kAvx512), active >= CpuIsa::kAvx512);
  if (active < CpuIsa::kAvx512) {
    EXPECT_FALSE(CpuHasAvx512Bf16());
  }
}

TEST(CpuIsaTest, DetectionAgreesWithTheCompilerBuiltins) {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  EXPECT_EQ(DetectedCpuIsa() >= CpuIsa::kAvx2, avx2);
  EXPECT_EQ(DetectedCpuIsa() >= CpuIsa::kAvx512, avx2 && avx512);
}

}  // namespace
}  // namespace llmserve
