// The OpenMP wait policy: GOMP_SPINCOUNT / OMP_WAIT_POLICY are read as libgomp
// reads them (libgomp/env.c), and releasing the calling thread's team really
// ends its worker threads only when the wait is bounded.
#include "engine/common/openmp_wait.h"

#include "tests/test_util.h"
#include <gtest/gtest.h>
#include <omp.h>

#include <chrono>
#include <cstdlib>
#include <limits>
#include <thread>

namespace llmserve {
namespace {

TEST(OpenMpWaitTest, ParsesSpinCountsAsLibgomp) {
  EXPECT_EQ(ParseGompSpinCount("2000"), 2000);
  EXPECT_EQ(ParseGompSpinCount(" 0 "), 0);
  EXPECT_EQ(ParseGompSpinCount("3k"), 3000);
  EXPECT_EQ(ParseGompSpinCount("2 M"), 2000000);
  EXPECT_EQ(ParseGompSpinCount("1g"), 1000000000);
  EXPECT_EQ(ParseGompSpinCount("1T"), 1000000000000);
  EXPECT_EQ(ParseGompSpinCount("INFINITE"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ParseGompSpinCount("infinity"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ParseGompSpinCount("99999999999999999T"), std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(ParseGompSpinCount("").has_value());
  EXPECT_FALSE(ParseGompSpinCount("  ").has_value());
  EXPECT_FALSE(ParseGompSpinCount("-5").has_value());
  EXPECT_FALSE(ParseGompSpinCount("12x").has_value());
  EXPECT_FALSE(ParseGompSpinCount("12kk").has_value());
  EXPECT_FALSE(ParseGompSpinCount("k").has_value());
}

TEST(OpenMpWaitTest, BoundedOnlyForASmallSpinCountOrPassive) {
  EXPECT_FALSE(IsOpenMpWaitBounded(std::nullopt, std::nullopt));  // libgomp's 300,000
  EXPECT_TRUE(IsOpenMpWaitBounded("2000", std::nullopt));
  EXPECT_TRUE(IsOpenMpWaitBounded("100k", std::nullopt));
  EXPECT_FALSE(IsOpenMpWaitBounded("100001", std::nullopt));
  EXPECT_FALSE(IsOpenMpWaitBounded("infinite", std::nullopt));
  EXPECT_TRUE(IsOpenMpWaitBounded(std::nullopt, "PASSIVE"));
  EXPECT_TRUE(IsOpenMpWaitBounded(std::nullopt, " passive"));
  EXPECT_FALSE(IsOpenMpWaitBounded(std::nullopt, "active"));
  // A valid spin count wins over the policy; a malformed one is ignored.
  EXPECT_TRUE(IsOpenMpWaitBounded("1000", "active"));
  EXPECT_FALSE(IsOpenMpWaitBounded("1M", "passive"));
  EXPECT_TRUE(IsOpenMpWaitBounded("lots", "passive"));
  EXPECT_FALSE(IsOpenMpWaitBounded("lots", std::nullopt));
}

using llmserve::testing::ThreadsOfThisProcess;

// Starts a 2-thread team on the calling thread and returns the process's
// thread count once it is up.
int StartTeam() {
  omp_set_num_threads(2);
  int team = 0;
#pragma omp parallel
  {
#pragma omp single
    team = omp_get_num_threads();
  }
  EXPECT_EQ(team, 2);
  return ThreadsOfThisProcess();
}

// Polls (up to `polls` × 10 ms) until the process has `want` threads;
// returns the last count.
int WaitForThreads(int want, int polls) {
  int n = ThreadsOfThisProcess();
  for (int i = 0; i < polls && n != want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    n = ThreadsOfThisProcess();
  }
  return n;
}

TEST(OpenMpWaitTest, ReleasingTheTeamEndsItsWorkerOnlyWhenTheWaitIsBounded) {
  const char* saved_spin = std::getenv("GOMP_SPINCOUNT");
  const char* saved_policy = std::getenv("OMP_WAIT_POLICY");
  const std::string spin = saved_spin ? saved_spin : "", policy = saved_policy ? saved_policy : "";

  unsetenv("GOMP_SPINCOUNT");
  unsetenv("OMP_WAIT_POLICY");
  const int with_team = StartTeam();
  EXPECT_FALSE(ReleaseOpenMpTeamIfWaitBounded());
  EXPECT_EQ(WaitForThreads(with_team - 1, 50), with_team) << "an unbounded wait keeps the team";

  setenv("GOMP_SPINCOUNT", "2000", 1);
  EXPECT_TRUE(ReleaseOpenMpTeamIfWaitBounded());
  EXPECT_EQ(WaitForThreads(with_team - 1, 500), with_team - 1) << "the idle worker thread must end";
  EXPECT_NE(OpenMpWaitDescription().find("GOMP_SPINCOUNT=2000 (bounded"), std::string::npos)
      << OpenMpWaitDescription();

  // The next parallel region simply starts a new team.
  EXPECT_EQ(StartTeam(), with_team);

  if (saved_spin) setenv("GOMP_SPINCOUNT", spin.c_str(), 1); else unsetenv("GOMP_SPINCOUNT");
  if (saved_policy) setenv("OMP_WAIT_POLICY", policy.c_str(), 1); else unsetenv("OMP_WAIT_POLICY");
}

}  // namespace
}  // namespace llmserve
