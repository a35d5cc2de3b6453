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

class TruncatedModelFaultTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = llmserve::testing::MakeTempDir("llmserve_truncated"); }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    EXPECT_FALSE(std::filesystem::exists(dir_)) << "temp copies left behind";
  }

  /// For every cut: writes the shared file `source` cut at cut/16 of its
  /// length to `path`, runs llmserve with `flags` (which name `path` or its
  /// directory) and expects a clean failure whose error names `path`.
  void ExpectEveryCutFailsCleanly(const std::string& source, const std::string& path,
                                  const std::vector<std::string>& flags) {
    const std::string full = llmserve::testing::ReadFile(llmserve::testing::SharedPath(source));
    ASSERT_GT(full.size(), 1000u) << source;
    std::vector<std::string> args = flags;
    args.insert(args.end(),
                {"--listen", "127.0.0.1:0", "--metrics-address=127.0.0.1:0", "--threads=1"});
    for (int cut = 0; cut < kCuts; ++cut) {
      const size_t size = full.size() * cut / kCuts;
      const std::string what = absl::StrCat(source, " cut at ", cut, "/16 (", size, " bytes)");
      ASSERT_TRUE(llmserve::testing::WriteFile(path, full.substr(0, size)));
      ServerProcess server;
      ASSERT_TRUE(server.Start(args, absl::StrCat(dir_, "/server-", cut, ".log")));
      const ProcessExit exit = server.WaitForExit(absl::Seconds(120));
      const std::string log = server.Log();
      EXPECT_TRUE(exit.exited) << what << ": " << exit.Describe() << "\n" << log;
      EXPECT_NE(exit.code, 0) << what << " was served:\n" << log;
      EXPECT_THAT(log, HasSubstr("cannot start the engine")) << what;
      EXPECT_THAT(log, HasSubstr(path)) << what << ": the error does not name the file";
    }
  }

  std::string dir_;
};

TEST_F(TruncatedModelFaultTest, Llama2cCheckpointCutAtEverySixteenthFailsCleanly) {
  const std::string model = dir_ + "/stories260K.bin";
  ExpectEveryCutFailsCleanly("models/stories260K/stories260K.bin", model,
                             {"--model", model, "--tokenizer",
                              llmserve::testing::SharedPath("models/stories260K/tok512.bin")});
}

TEST_F(TruncatedModelFaultTest, SafetensorsOfAnHfDirectoryCutAtEverySixteenthFailsCleanly) {
  const std::string source = llmserve::testing::SharedPath("models/stories260K-hf");
  const std::string model_dir = dir_ + "/stories260K-hf";
  std::filesystem::create_directories(model_dir);
  for (const char* name : {"config.json", "tok512.bin"}) {
    std::filesystem::copy_file(absl::StrCat(source, "/", name), absl::StrCat(model_dir, "/", name));
  }
  ExpectEveryCutFailsCleanly("models/stories260K-hf/model.safetensors",
                             model_dir + "/model.safetensors", {"--model", model_dir});
}

TEST_F(TruncatedModelFaultTest, Llama2cTokenizerCutAtEverySixteenthFailsCleanly) {
  const std::string tokenizer = dir_ + "/tok512.bin";
  ExpectEveryCutFailsCleanly(
      "models/stories260K/tok512.bin", tokenizer,
      {"--model", llmserve::testing::SharedPath("models/stories260K/stories260K.bin"),
       "--tokenizer", tokenizer});
}

}  // namespace
}  // namespace llmserve::server
