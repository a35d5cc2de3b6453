// The tests' shared subprocess helpers (tests/test_util.h), which the bench
// and server tests use to run the binaries of this build tree.

#include "tests/test_util.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace llmserve::testing {
namespace {

TEST(TestUtilTest, RunCommandCapturesStdoutAndTheExitCode) {
  CommandResult r = RunCommand("printf 'a\\nb'; echo err >&2; exit 3");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "a\nb");
  r = RunCommand("true");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  r = RunCommand("kill -9 $$");  // killed by a signal: no exit code
  EXPECT_EQ(r.exit_code, -1);
}

TEST(TestUtilTest, RunBoundedKillsWhatOutlivesItsTimeout) {
  CommandResult r = RunBounded("sh -c 'echo started; exec sleep 60'", 1);
  EXPECT_EQ(r.exit_code, 124);
  EXPECT_EQ(r.out, "started\n");
  r = RunBounded("sh -c 'echo fine; exit 5'", 60);
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.out, "fine\n");
}

TEST(TestUtilTest, BuildPathIsBesideTheTestsDirectory) {
  // This executable is <build>/tests/test_util_test.
  EXPECT_TRUE(std::filesystem::exists(BuildPath("tests/test_util_test")));
  EXPECT_TRUE(std::filesystem::exists(BuildPath("CMakeCache.txt")));
}

}  // namespace
}  // namespace llmserve::testing
