// Bearer-token auth (--auth-token-file) and TLS / mutual TLS (--tls-cert,
// --tls-key, --tls-client-ca) over real gRPC, through the generated stubs and
// the llmserve-client binary. Certificates are generated per test run with
// the openssl command line (installed by scripts/install-deps.sh).

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/auth.h"
#include "server/server_app.h"
#include "tests/server/client_runner.h"
#include "tests/server/fake_server.h"
#include "tests/server/metrics_scrape.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::grpc::health::v1::HealthCheckResponse;
using ::llmserve::testing::ClientBinary;
using ::llmserve::testing::CommandResult;
using ::llmserve::testing::FakeEngine;
using ::llmserve::testing::RunCommand;
using ::llmserve::testing::Scrape;
using ::testing::HasSubstr;

constexpr char kToken[] = "s3cret-T0ken_value";

/// A context with a 10 s deadline and, if not empty, `authorization: <value>`.
std::unique_ptr<grpc::ClientContext> Context(const std::string& authorization = "") {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!authorization.empty()) context->AddMetadata("authorization", authorization);
  return context;
}

grpc::Status CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                         HealthCheckResponse* response) {
  auto context = Context();
  return grpc::health::v1::Health::NewStub(channel)->Check(context.get(), {}, response);
}

TEST(AuthTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(AuthTest, TokenFileIsReadTrimmedAndChecked) {
  const std::string dir = llmserve::testing::MakeTempDir("llmserve_auth");
  ASSERT_TRUE(llmserve::testing::WriteFile(dir + "/token", std::string(kToken) + "\n"));
  absl::StatusOr<std::string> token = ReadAuthTokenFile(dir + "/token");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, kToken);
  ASSERT_TRUE(llmserve::testing::WriteFile(dir + "/crlf", "abc\r\n"));
  EXPECT_EQ(*ReadAuthTokenFile(dir + "/crlf"), "abc");
  ASSERT_TRUE(llmserve::testing::WriteFile(dir + "/empty", "\n"));
  EXPECT_EQ(ReadAuthTokenFile(dir + "/empty").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(llmserve::testing::WriteFile(dir + "/spaced", "two words\n"));
  EXPECT_EQ(ReadAuthTokenFile(dir + "/spaced").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadAuthTokenFile(dir + "/missing").status().code(), absl::StatusCode::kNotFound);
  // A server with an unreadable token file does not start.
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.auth_token_file = dir + "/missing";
  auto app = ServerApp::Start(std::make_unique<FakeEngine>(), options);
  ASSERT_FALSE(app.ok());
  EXPECT_EQ(app.status().code(), absl::StatusCode::kNotFound);
}

class AuthServerTest : public FakeServerTest {
 protected:
  void SetUp() override {
    dir_ = llmserve::testing::MakeTempDir("llmserve_auth_server");
    token_file_ = dir_ + "/token";
    ASSERT_TRUE(llmserve::testing::WriteFile(token_file_, std::string(kToken) + "\n"));
    StartServer([this](ServerOptions& o) { o.auth_token_file = token_file_; });
  }
  std::string dir_;
  std::string token_file_;
};

TEST_F(AuthServerTest, EveryRpcButHealthNeedsTheBearerToken) {
  const std::string right = absl::StrCat("Bearer ", kToken);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"", "missing credentials"},
      {absl::StrCat("Bearer ", kToken, "x"), "invalid credentials"},
      {"Bearer wrong", "invalid credentials"},
      {absl::StrCat("Basic ", kToken), "invalid credentials"},
      {kToken, "invalid credentials"},
  };
  for (const auto& [authorization, message] : refused) {
    SCOPED_TRACE(authorization);
    v1::GenerateResponse response;
    grpc::Status status = stub_->Generate(Context(authorization).get(), TextRequest("a", 2), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(status.error_message(), HasSubstr(message));
    EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr(kToken)));
    auto context = Context(authorization);
    auto reader = stub_->GenerateStream(context.get(), TextRequest("a", 2));
    v1::GenerateStreamResponse message_out;
    EXPECT_FALSE(reader->Read(&message_out));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
    v1::TokenizeRequest tokenize;
    tokenize.set_text("a");
    v1::TokenizeResponse tokens;
    EXPECT_EQ(stub_->Tokenize(Context(authorization).get(), tokenize, &tokens).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    v1::ModelInfo info;
    EXPECT_EQ(stub_->GetModelInfo(Context(authorization).get(), {}, &info).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(engine_->added_requests(), 0);

  // The right token (the scheme is case-insensitive).
  for (const std::string& authorization : {right, absl::StrCat("bearer ", kToken)}) {
    v1::GenerateResponse response;
    grpc::Status status = stub_->Generate(Context(authorization).get(), TextRequest("a", 3), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.text(), FakeEngine::ExpectedText(TextIds("a"), 3));
  }
  v1::ModelInfo info;
  EXPECT_TRUE(stub_->GetModelInfo(Context(right).get(), {}, &info).ok());

  // Health needs none.
  HealthCheckResponse health;
  ASSERT_TRUE(CheckHealth(channel_, &health).ok());
  EXPECT_EQ(health.status(), HealthCheckResponse::SERVING);

  // Each refused Generate/GenerateStream counted once, by code.
  const Scrape scrape(app_->metrics().SerializeText());
  EXPECT_EQ(scrape.Value("llmserve_request_failure_total", {{"code", "UNAUTHENTICATED"}}),
            2.0 * refused.size());
  EXPECT_EQ(scrape.Value("llmserve_request_success_total", {{"finish_reason", "length"}}), 2);
}

TEST_F(AuthServerTest, ClientBinarySendsTheToken) {
  const std::string client = ClientBinary();
  ASSERT_TRUE(std::filesystem::exists(client)) << "not built: " << client;
  const std::string base = absl::StrCat(client, " generate --address=", app_->address(),
                                        " --prompt=hi --max-tokens=4 --timeout=10");
  CommandResult r = RunCommand(absl::StrCat(base, " --auth-token-file=", token_file_, " 2>/dev/null"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, FakeEngine::ExpectedText(TextIds("hi"), 4) + "\n");
  r = RunCommand(absl::StrCat(base, " --auth-token=", kToken, " 2>/dev/null"));
  EXPECT_EQ(r.exit_code, 0);
  r = RunCommand(absl::StrCat(base, " 2>&1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("UNAUTHENTICATED"));
  r = RunCommand(absl::StrCat(base, " --auth-token=nope 2>&1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("UNAUTHENTICATED"));
  r = RunCommand(absl::StrCat(client, " health --timeout=10 --address=", app_->address()));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "SERVING\n");
}

/// A self-signed certificate for localhost / 127.0.0.1, made with openssl.
struct Certificate {
  std::string cert_file, key_file;
  std::string cert_pem;
};

/// Generates a self-signed certificate into `dir` named `name`; nullopt (and
/// the caller fails) if the openssl command is not available or fails.
std::optional<Certificate> MakeCertificate(const std::string& dir, const std::string& name) {
  Certificate c;
  c.cert_file = absl::StrCat(dir, "/", name, ".crt");
  c.key_file = absl::StrCat(dir, "/", name, ".key");
  const std::string command = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost ",
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ", c.key_file, " -out ",
      c.cert_file, " > /dev/null 2>&1");
  if (std::system(command.c_str()) != 0) return std::nullopt;
  c.cert_pem = llmserve::testing::ReadFile(c.cert_file);
  if (c.cert_pem.empty()) return std::nullopt;
  return c;
}

class TlsServerTest : public FakeServerTest {
 protected:
  void SetUp() override {
    // openssl is a test dependency (scripts/install-deps.sh): missing, it fails.
    ASSERT_EQ(std::system("openssl version > /dev/null 2>&1"), 0)
        << "the openssl command is missing (scripts/install-deps.sh installs it)";
    dir_ = llmserve::testing::MakeTempDir("llmserve_tls");
    auto server = MakeCertificate(dir_, "server");
    auto client = MakeCertificate(dir_, "client");
    ASSERT_TRUE(server.has_value() && client.has_value());
    server_cert_ = *server;
    client_cert_ = *client;
  }

  void StartTls(bool mutual) {
    StartServer([this, mutual](ServerOptions& o) {
      // An IP literal, verified against the certificate's IP SAN: resolving
      // "localhost" would go through c-ares, which leaks a few bytes per
      // channel under LeakSanitizer.
      o.listen_address = "127.0.0.1:0";
      o.tls_cert_file = server_cert_.cert_file;
      o.tls_key_file = server_cert_.key_file;
      if (mutual) o.tls_client_ca_file = client_cert_.cert_file;
    });
  }

  std::shared_ptr<grpc::Channel> TlsChannel(bool with_client_cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = server_cert_.cert_pem;
    if (with_client_cert) {
      ssl.pem_cert_chain = client_cert_.cert_pem;
      ssl.pem_private_key = llmserve::testing::ReadFile(client_cert_.key_file);
    }
    return grpc::CreateChannel(app_->address(), grpc::SslCredentials(ssl));
  }

  std::string dir_;
  Certificate server_cert_, client_cert_;
};

TEST_F(TlsServerTest, TlsRoundTripAndPlaintextIsRefused) {
  StartTls(/*mutual=*/false);
  auto channel = TlsChannel(false);
  auto stub = v1::Generation::NewStub(channel);
  v1::GenerateResponse response;
  grpc::Status status = stub->Generate(Context().get(), TextRequest("tls", 5), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), FakeEngine::ExpectedText(TextIds("tls"), 5));
  HealthCheckResponse health;
  ASSERT_TRUE(CheckHealth(channel, &health).ok());
  EXPECT_EQ(health.status(), HealthCheckResponse::SERVING);

  // A plaintext client cannot talk to the TLS port.
  v1::GenerateResponse plain_response;
  status = stub_->Generate(Context().get(), TextRequest("plain", 2), &plain_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_FALSE(CheckHealth(channel_, &health).ok());
  // Nor a TLS client that does not trust the certificate (system roots).
  auto untrusted = grpc::CreateChannel(app_->address(), grpc::SslCredentials({}));
  EXPECT_FALSE(CheckHealth(untrusted, &health).ok());
  EXPECT_EQ(engine_->added_requests(), 1);

  // llmserve-client over TLS: generate and health.
  const std::string client = ClientBinary();
  ASSERT_TRUE(std::filesystem::exists(client)) << "not built: " << client;
  const std::string common = absl::StrCat(" --address=", app_->address(),
                                          " --tls-ca=", server_cert_.cert_file, " --timeout=10");
  CommandResult r = RunCommand(absl::StrCat(client, " health", common));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "SERVING\n");
  r = RunCommand(absl::StrCat(client, " generate", common, " --prompt=hi --max-tokens=3 2>/dev/null"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, FakeEngine::ExpectedText(TextIds("hi"), 3) + "\n");
  r = RunCommand(absl::StrCat(client, " health --timeout=10 --address=", app_->address(), " 2>&1"));
  EXPECT_EQ(r.exit_code, 1);  // plaintext
}

TEST_F(TlsServerTest, MutualTlsNeedsAClientCertificate) {
  StartTls(/*mutual=*/true);
  HealthCheckResponse health;
  ASSERT_TRUE(CheckHealth(TlsChannel(/*with_client_cert=*/true), &health).ok());
  EXPECT_EQ(health.status(), HealthCheckResponse::SERVING);
  EXPECT_FALSE(CheckHealth(TlsChannel(/*with_client_cert=*/false), &health).ok());

  const std::string client = ClientBinary();
  ASSERT_TRUE(std::filesystem::exists(client)) << "not built: " << client;
  const std::string common = absl::StrCat(" --address=", app_->address(),
                                          " --tls-ca=", server_cert_.cert_file, " --timeout=10");
  CommandResult r = RunCommand(absl::StrCat(client, " health", common, " --tls-cert=",
                                            client_cert_.cert_file, " --tls-key=",
                                            client_cert_.key_file));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "SERVING\n");
  r = RunCommand(absl::StrCat(client, " health", common, " 2>/dev/null"));
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(TlsServerTest, BadTlsOptionsFailStart) {
  const std::string not_pem = dir_ + "/not-pem.crt";
  ASSERT_TRUE(llmserve::testing::WriteFile(not_pem, "hello\n"));
  for (const auto& [cert, key, ca, code] :
       std::vector<std::tuple<std::string, std::string, std::string, absl::StatusCode>>{
           {server_cert_.cert_file, "", "", absl::StatusCode::kInvalidArgument},
           {"", "", client_cert_.cert_file, absl::StatusCode::kInvalidArgument},
           {dir_ + "/missing.crt", server_cert_.key_file, "", absl::StatusCode::kNotFound},
           {not_pem, server_cert_.key_file, "", absl::StatusCode::kInvalidArgument},
       }) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.tls_cert_file = cert;
    options.tls_key_file = key;
    options.tls_client_ca_file = ca;
    auto app = ServerApp::Start(std::make_unique<FakeEngine>(), options);
    ASSERT_FALSE(app.ok()) << cert << " " << key << " " << ca;
    EXPECT_EQ(app.status().code(), code) << app.status();
  }
}

}  // namespace
}  // namespace llmserve::server
