// llmserve-client generate's issue-#12 flags reach the engine request (over a
// FakeEngine), and bad values come back as the server's INVALID_ARGUMENT.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/server/client_runner.h"
#include "tests/server/fake_server.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::CommandResult;
using ::llmserve::testing::RunCommand;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ClientGenerationFlagsTest = FakeServerTest;

TEST_F(ClientGenerationFlagsTest, FlagsReachTheEngineRequest) {
  const std::string client = ::llmserve::testing::ClientBinary();
  ASSERT_TRUE(std::filesystem::exists(client)) << "not built: " << client;
  const std::string base = absl::StrCat(client, " generate --address=", app_->address(),
                                        " --prompt=hi --max-tokens=5");
  CommandResult r = RunCommand(absl::StrCat(
      base,
      " --min-p=0.05 --repetition-penalty=1.3 --presence-penalty=0.5 --frequency-penalty=-0.25"
      " --logit-bias=7:-100,42:2.5 --banned-token-ids=9,10 --stop-token-ids=11 --min-tokens=2"
      " --logprobs=3 --prompt-logprobs=1 --n=2 --priority=-4 2>&1"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  const EngineRequest seen = engine_->last_request();
  EXPECT_FLOAT_EQ(seen.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(seen.sampling.repetition_penalty, 1.3f);
  EXPECT_FLOAT_EQ(seen.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(seen.sampling.frequency_penalty, -0.25f);
  EXPECT_THAT(seen.sampling.logit_bias, ElementsAre(Pair(7, -100.0f), Pair(42, 2.5f)));
  EXPECT_THAT(seen.sampling.banned_token_ids, ElementsAre(9, 10));
  EXPECT_THAT(seen.sampling.stop_token_ids, ElementsAre(11));
  EXPECT_EQ(seen.sampling.min_tokens, 2);
  EXPECT_EQ(seen.sampling.logprobs, std::optional<int>(3));
  EXPECT_EQ(seen.sampling.prompt_logprobs, std::optional<int>(1));
  EXPECT_EQ(seen.sampling.n, 2);
  EXPECT_EQ(seen.priority, -4);

  // Defaults: nothing set means today's behaviour.
  r = RunCommand(absl::StrCat(base, " 2>/dev/null"));
  EXPECT_EQ(r.exit_code, 0);
  const EngineRequest plain = engine_->last_request();
  EXPECT_EQ(plain.sampling.repetition_penalty, 1.0f);
  EXPECT_FALSE(plain.sampling.logprobs.has_value());
  EXPECT_EQ(plain.sampling.n, 1);
  EXPECT_EQ(plain.priority, 0);

  r = RunCommand(absl::StrCat(base, " --presence-penalty=3 2>&1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("sampling_params.presence_penalty"));
  r = RunCommand(absl::StrCat(base, " --logit-bias=oops 2>&1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("--logit-bias: not TOKEN_ID:BIAS"));
}

TEST_F(ClientGenerationFlagsTest, StructuredOutputFlagsReachTheEngineRequest) {
  using Kind = StructuredOutputParams::Kind;
  const std::string client = ::llmserve::testing::ClientBinary();
  const std::string base = absl::StrCat(client, " generate --address=", app_->address(),
                                        " --prompt=hi --max-tokens=5");
  const std::string dir = ::llmserve::testing::MakeTempDir("llmserve-client-flags");
  const std::string schema = R"({"type": "object", "properties": {"a": {"type": "integer"}}})";
  ASSERT_TRUE(::llmserve::testing::WriteFile(dir + "/schema.json", schema));
  ASSERT_TRUE(::llmserve::testing::WriteFile(dir + "/g.gbnf", "root ::= \"x\"\n"));

  CommandResult r = RunCommand(absl::StrCat(base, " --json-schema=", dir, "/schema.json 2>&1"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::optional<StructuredOutputParams> so = engine_->last_request().sampling.structured_output;
  ASSERT_TRUE(so.has_value());
  EXPECT_EQ(so->kind, Kind::kJsonSchema);
  EXPECT_EQ(so->text, schema);

  r = RunCommand(absl::StrCat(base, " --json-object 2>&1"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  so = engine_->last_request().sampling.structured_output;
  ASSERT_TRUE(so.has_value());
  EXPECT_EQ(so->kind, Kind::kJsonObject);

  r = RunCommand(absl::StrCat(base, " --regex='[0-9]+' 2>&1"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  so = engine_->last_request().sampling.structured_output;
  ASSERT_TRUE(so.has_value());
  EXPECT_EQ(so->kind, Kind::kRegex);
  EXPECT_EQ(so->text, "[0-9]+");

  r = RunCommand(absl::StrCat(base, " --choice=yes,no 2>&1"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  so = engine_->last_request().sampling.structured_output;
  ASSERT_TRUE(so.has_value());
  EXPECT_EQ(so->kind, Kind::kChoice);
  EXPECT_THAT(so->choices, ElementsAre("yes", "no"));

  r = RunCommand(absl::StrCat(base, " --grammar=", dir, "/g.gbnf 2>&1"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  so = engine_->last_request().sampling.structured_output;
  ASSERT_TRUE(so.has_value());
  EXPECT_EQ(so->kind, Kind::kGrammar);
  EXPECT_EQ(so->text, "root ::= \"x\"\n");

  r = RunCommand(absl::StrCat(base, " 2>/dev/null"));
  EXPECT_FALSE(engine_->last_request().sampling.structured_output.has_value());

  r = RunCommand(absl::StrCat(base, " --regex=a --choice=b 2>&1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("at most one of --json-schema"));
  r = RunCommand(absl::StrCat(base, " --json-schema=", dir, "/missing.json 2>&1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("--json-schema: cannot read"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace llmserve::server
