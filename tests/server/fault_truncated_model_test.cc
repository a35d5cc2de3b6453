// Fault: a model file cut short (an interrupted download or copy). The
// llmserve binary is started on copies of stories260K files truncated at
// every 1/16 of their length (0/16 = empty up to 15/16): the llama2.c
// checkpoint, the model.safetensors of the Hugging Face directory, and the
// llama2.c tokenizer. Each start must fail cleanly: a non-zero exit (not a
// signal: no SIGBUS reading past the end of a mapping, no abort), and an
// error that names the file. The copies are removed.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/server/server_process.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::ProcessExit;
using ::llmserve::testing::ServerProcess;
using ::testing::HasSubstr;

constexpr int kCuts = 16;

/// Runs llmserve with `args` and expects a clean failure naming `file`.
void ExpectCleanFailure(const std::vector<std::string>& args, const std::string& file,
                        const std::string& log_path, const std::string& what) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(args, log_path));
  const ProcessExit exit = server.WaitForExit(absl::Seconds(120));
  const std::string log = server.Log();
  EXPECT_TRUE(exit.exited) << what << ": " << exit.Describe() << "\n" << log;
  EXPECT_NE(exit.code, 0) << what << " was served:\n" << log;
  EXPECT_THAT(log, HasSubstr("cannot start the engine")) << what;
  EXPECT_THAT(log, HasSubstr(file)) << what << ": the error does not name the file";
}

class TruncatedModelFaultTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = llmserve::testing::MakeTempDir("llmserve_truncated"); }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    EXPECT_FALSE(std::filesystem::exists(dir_)) << "temp copies left behind";
  }
  std::string dir_;
};

TEST_F(TruncatedModelFaultTest, Llama2cCheckpointCutAtEverySixteenthFailsCleanly) {
  const std::string full = llmserve::testing::ReadFile(
      llmserve::testing::SharedPath("models/stories260K/stories260K.bin"));
  ASSERT_GT(full.size(), 1000u);
  const std::string tokenizer = llmserve::testing::SharedPath("models/stories260K/tok512.bin");
  for (int cut = 0; cut < kCuts; ++cut) {
    const size_t size = full.size() * cut / kCuts;
    const std::string model = absl::StrCat(dir_, "/stories260K-", cut, "of16.bin");
    ASSERT_TRUE(llmserve::testing::WriteFile(model, full.substr(0, size)));
    ExpectCleanFailure({"--model", model, "--tokenizer", tokenizer, "--listen", "127.0.0.1:0",
                        "--metrics-address=127.0.0.1:0", "--threads=1"},
                       model, absl::StrCat(dir_, "/llama2c-", cut, ".log"),
                       absl::StrCat("cut at ", cut, "/16 (", size, " bytes)"));
    std::filesystem::remove(model);
  }
}

TEST_F(TruncatedModelFaultTest, SafetensorsOfAnHfDirectoryCutAtEverySixteenthFailsCleanly) {
  const std::string source = llmserve::testing::SharedPath("models/stories260K-hf");
  const std::string full = llmserve::testing::ReadFile(source + "/model.safetensors");
  ASSERT_GT(full.size(), 1000u);
  const std::string model_dir = dir_ + "/stories260K-hf";
  std::filesystem::create_directories(model_dir);
  for (const char* name : {"config.json", "tok512.bin"}) {
    std::filesystem::copy_file(absl::StrCat(source, "/", name), absl::StrCat(model_dir, "/", name));
  }
  const std::string weights = model_dir + "/model.safetensors";
  for (int cut = 0; cut < kCuts; ++cut) {
    const size_t size = full.size() * cut / kCuts;
    ASSERT_TRUE(llmserve::testing::WriteFile(weights, full.substr(0, size)));
    ExpectCleanFailure({"--model", model_dir, "--listen", "127.0.0.1:0",
                        "--metrics-address=127.0.0.1:0", "--threads=1"},
                       weights, absl::StrCat(dir_, "/hf-", cut, ".log"),
                       absl::StrCat("cut at ", cut, "/16 (", size, " bytes)"));
  }
}

TEST_F(TruncatedModelFaultTest, Llama2cTokenizerCutAtEverySixteenthFailsCleanly) {
  const std::string full =
      llmserve::testing::ReadFile(llmserve::testing::SharedPath("models/stories260K/tok512.bin"));
  ASSERT_GT(full.size(), 1000u);
  const std::string model = llmserve::testing::SharedPath("models/stories260K/stories260K.bin");
  for (int cut = 0; cut < kCuts; ++cut) {
    const size_t size = full.size() * cut / kCuts;
    const std::string tokenizer = absl::StrCat(dir_, "/tok512-", cut, "of16.bin");
    ASSERT_TRUE(llmserve::testing::WriteFile(tokenizer, full.substr(0, size)));
    ExpectCleanFailure({"--model", model, "--tokenizer", tokenizer, "--listen", "127.0.0.1:0",
                        "--metrics-address=127.0.0.1:0", "--threads=1"},
                       tokenizer, absl::StrCat(dir_, "/tokenizer-", cut, ".log"),
                       absl::StrCat("cut at ", cut, "/16 (", size, " bytes)"));
    std::filesystem::remove(tokenizer);
  }
}

}  // namespace
}  // namespace llmserve::server
