// llmserve-client (the built binary) against a server over a FakeEngine:
// subcommands, flag spellings, output formats, exit codes, deadline.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/server/client_runner.h"
#include "tests/server/fake_server.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::FakeEngine;
using ::llmserve::testing::FakeTokenizer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ClientCliTest = FakeServerTest;

TEST_F(ClientCliTest, SubcommandsOutputsAndExitCodes) {
  using ::llmserve::testing::CommandResult;
  using ::llmserve::testing::RunCommand;
  const std::string client = ::llmserve::testing::ClientBinary();
  ASSERT_TRUE(std::filesystem::exists(client)) << "not built: " << client;
  const std::string address = absl::StrCat(" --address=", app_->address());
  const std::string expected = FakeEngine::ExpectedText(TextIds("hi"), 5) + "\n";

  // Dashed and underscored flag spellings both work.
  CommandResult r = RunCommand(
      absl::StrCat(client, " generate", address, " --prompt=hi --max-tokens=5 2>/dev/null"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, expected);
  r = RunCommand(absl::StrCat(client, " generate", address,
                              " --prompt hi --max_tokens 5 --stream --seed=3 --top-p=0.9 "
                              "--stop=zz,yy --ignore-eos 2>/dev/null"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, expected);
  const EngineRequest seen = engine_->last_request();
  EXPECT_EQ(seen.sampling.seed, std::optional<uint64_t>(3));
  EXPECT_EQ(seen.sampling.top_p, 0.9f);
  EXPECT_THAT(seen.sampling.stop, ElementsAre("zz", "yy"));
  EXPECT_TRUE(seen.sampling.ignore_eos);
  r = RunCommand(absl::StrCat(client, " generate", address,
                              " --prompt-token-ids=7,8 --max-tokens=2 2>/dev/null"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(engine_->last_request().prompt_token_ids, ElementsAre(7, 8));

  r = RunCommand(absl::StrCat(client, " tokenize", address, " --text=hi"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "1 107 108\n\"\" \"h\" \"i\"\n");
  r = RunCommand(absl::StrCat(client, " info", address));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("model_name: \"fake\""));
  EXPECT_THAT(r.out, HasSubstr("vocab_size: 300"));
  r = RunCommand(absl::StrCat(client, " health", address));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "SERVING\n");

  // Errors: a non-OK status exits non-zero; the timeout is the deadline.
  r = RunCommand(absl::StrCat(client, " generate", address, " --prompt=hi --max-tokens=0 2>&1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("sampling_params.max_tokens"));
  engine_->set_hold_after_tokens(1);
  r = RunCommand(absl::StrCat(client, " generate", address,
                              " --prompt=hi --max-tokens=9 --stream --timeout=0.3 2>&1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_TRUE(engine_->WaitForLive(0));
  r = RunCommand(absl::StrCat(client, " frobnicate", address, " 2>/dev/null"));
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace llmserve::server
