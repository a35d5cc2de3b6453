// llmserve-bench over TLS against the real llmserve binary serving
// stories260K: with the CA that signed the server's certificate (and, for
// mutual TLS, a client certificate) every request completes and the counts
// agree with the server's; without the CA (system roots), in plaintext, or
// without the client certificate the bench fails cleanly: exit status 1 with
// the failed call named, no hang. Certificates are generated per run with the
// openssl command line (installed by scripts/install-deps.sh), as
// tests/server/security_test.cc does.

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/bench/bench_process.h"
#include "tests/test_util.h"

namespace llmserve::bench {
namespace {

using ::llmserve::testing::BuildPath;
using ::llmserve::testing::RunBounded;
using ::llmserve::testing::ServerProcess;
using ::testing::HasSubstr;

/// Writes a self-signed certificate for localhost / 127.0.0.1 to
/// `dir`/`name`.crt and .key; false if openssl failed.
bool MakeCertificate(const std::string& dir, const std::string& name) {
  const std::string command = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost ",
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ", dir, "/", name, ".key -out ",
      dir, "/", name, ".crt > /dev/null 2>&1");
  return std::system(command.c_str()) == 0;
}

class BenchTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = llmserve::testing::MakeTempDir("llmserve_bench_tls");
    ASSERT_TRUE(MakeCertificate(dir_, "server")) << "openssl failed";
    ASSERT_TRUE(MakeCertificate(dir_, "client")) << "openssl failed";
  }

  /// Starts llmserve on stories260K with the server certificate (mutual TLS
  /// with the client certificate as CA when `mutual`).
  void StartServer(bool mutual) {
    std::vector<std::string> args = {
        "--model", llmserve::testing::SharedPath("models/stories260K/stories260K.bin"),
        "--threads", "1", "--tls-cert", dir_ + "/server.crt", "--tls-key", dir_ + "/server.key"};
    if (mutual) {
      args.push_back("--tls-client-ca");
      args.push_back(dir_ + "/client.crt");
    }
    ASSERT_TRUE(server_.Start(args)) << server_.error();
  }

  /// Runs llmserve-bench (4 short requests) with `tls_args`; the result JSON
  /// or null when the run wrote none.
  nlohmann::json RunBench(const std::string& tls_args, int* exit_code, std::string* out) {
    const std::string output = absl::StrCat(dir_, "/r", runs_++, ".json");
    auto result = RunBounded(
        absl::StrCat(BuildPath("client/llmserve-bench"), " --address ", server_.address(),
                     " --metrics-url ", server_.metrics_url(),
                     " --timeout 60 --num-requests 4 --input-len 8 --output-len 6 --output ",
                     output, " ", tls_args, " 2>&1"),
        120);
    *exit_code = result.exit_code;
    *out = result.out;
    if (!std::filesystem::exists(output)) return nlohmann::json();
    return llmserve::testing::ReadJsonFile(output);
  }

  std::string dir_;
  ServerProcess server_;
  int runs_ = 0;
};

TEST_F(BenchTlsTest, CompletesWithTheCaAndFailsCleanlyWithout) {
  StartServer(/*mutual=*/false);
  int exit_code = 0;
  std::string out;
  const nlohmann::json j = RunBench(
      absl::StrCat("--tls-ca ", dir_, "/server.crt --tls-server-name localhost --connections 2"),
      &exit_code, &out);
  ASSERT_EQ(exit_code, 0) << out << server_.log();
  EXPECT_EQ(j["completed"], 4);
  EXPECT_EQ(j["failed"], 0);
  EXPECT_EQ(j["total_output_tokens"], 4 * 6);
  EXPECT_TRUE(j["server_cross_check"]["all_agree"].get<bool>()) << j["server_cross_check"];

  // System roots do not trust the self-signed certificate; plaintext cannot
  // talk to the TLS port: the first call fails, reported, and nothing hangs.
  for (const std::string& args : {std::string("--tls"), std::string()}) {
    SCOPED_TRACE(args);
    const nlohmann::json failed = RunBench(args, &exit_code, &out);
    ASSERT_NE(exit_code, 124) << "llmserve-bench hung";
    EXPECT_EQ(exit_code, 1) << out;
    EXPECT_THAT(out, HasSubstr("GetModelInfo on "));
    EXPECT_TRUE(failed.is_null());
  }
  // The server is still serving TLS clients afterwards.
  RunBench(absl::StrCat("--tls-ca ", dir_, "/server.crt"), &exit_code, &out);
  EXPECT_EQ(exit_code, 0) << out;
}

TEST_F(BenchTlsTest, MutualTlsNeedsTheClientCertificate) {
  StartServer(/*mutual=*/true);
  int exit_code = 0;
  std::string out;
  const std::string ca = absl::StrCat("--tls-ca ", dir_, "/server.crt");
  const nlohmann::json j = RunBench(
      absl::StrCat(ca, " --tls-cert ", dir_, "/client.crt --tls-key ", dir_, "/client.key"),
      &exit_code, &out);
  ASSERT_EQ(exit_code, 0) << out << server_.log();
  EXPECT_EQ(j["completed"], 4);
  EXPECT_TRUE(j["server_cross_check"]["all_agree"].get<bool>()) << j["server_cross_check"];

  RunBench(ca, &exit_code, &out);
  ASSERT_NE(exit_code, 124) << "llmserve-bench hung";
  EXPECT_EQ(exit_code, 1) << out;
  EXPECT_THAT(out, HasSubstr("GetModelInfo on "));
  // A certificate without its key is a usage error before any call.
  RunBench(absl::StrCat(ca, " --tls-cert ", dir_, "/client.crt"), &exit_code, &out);
  EXPECT_EQ(exit_code, 1);
  EXPECT_THAT(out, HasSubstr("--tls-cert and --tls-key must be given together"));
}

}  // namespace
}  // namespace llmserve::bench
