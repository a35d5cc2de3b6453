// The llmserve binary starts itself again with a bounded OpenMP spin
// (engine/common/openmp_wait.h) unless the environment already chose one,
// and its kernel report says which wait it runs with.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "engine/llm_engine.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

// `llmserve --print-kernels` for stories260K under `env <env>`; its stdout.
testing::CommandResult PrintKernels(const std::string& env) {
  const std::string cmd = "env " + env + " " + testing::BuildPath("server/llmserve") + " --model " +
                          testing::SharedPath("models/stories260K/stories260K.bin") +
                          " --threads 2 --print-kernels";
  return testing::RunBounded(cmd, 120);
}

TEST(OpenMpWaitServerTest, SetsABoundedSpinWhenTheEnvironmentHasNone) {
  const testing::CommandResult r = PrintKernels("-u GOMP_SPINCOUNT -u OMP_WAIT_POLICY");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  // 2 unless LLMSERVE_MAX_THREADS caps it (make test-tsan).
  const std::string expected = absl::StrCat("threads: ", EffectiveNumThreads(2).value(),
                                            ", openmp wait: GOMP_SPINCOUNT=2000 (bounded: one team)");
  EXPECT_NE(r.out.find(expected), std::string::npos)
      << r.out;
}

TEST(OpenMpWaitServerTest, KeepsTheOperatorsChoice) {
  testing::CommandResult r = PrintKernels("-u OMP_WAIT_POLICY GOMP_SPINCOUNT=50k");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("openmp wait: GOMP_SPINCOUNT=50k (bounded: one team)"), std::string::npos) << r.out;

  r = PrintKernels("-u GOMP_SPINCOUNT OMP_WAIT_POLICY=active");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("openmp wait: OMP_WAIT_POLICY=active (unbounded: throttled)"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("GOMP_SPINCOUNT"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace llmserve
