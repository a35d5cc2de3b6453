// ServerApp's lifecycle over real gRPC: not listening before the warm-up,
// health SERVING → NOT_SERVING on drain, the engine watchdog (FakeEngine
// stuck mode), draining (in-flight calls finish, new ones get UNAVAILABLE,
// the rest cancelled with UNAVAILABLE at the drain timeout), and the llmserve
// binary draining on SIGTERM and exiting 0.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "server/server_app.h"
#include "tests/server/fake_server.h"
#include "tests/server/metrics_scrape.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::grpc::health::v1::HealthCheckResponse;
using ::llmserve::testing::FakeEngine;
using ::llmserve::testing::Scrape;
using ::llmserve::testing::StreamResult;
using ::testing::HasSubstr;

/// A Health/Check over `channel`, bounded by a 5 s deadline.
grpc::Status CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                         HealthCheckResponse* response) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return health->Check(&context, {}, response);
}

/// Polls health (bounded, ~20 s) until it reports `want`.
bool WaitForHealth(const std::shared_ptr<grpc::Channel>& channel,
                   HealthCheckResponse::ServingStatus want) {
  for (int i = 0; i < 2000; ++i) {
    HealthCheckResponse response;
    if (CheckHealth(channel, &response).ok() && response.status() == want) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return 0;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(ServerLifecycleTest, NotListeningBeforeWarmUpThenServing) {
  const int port = FreePort();
  ASSERT_GT(port, 0);
  auto engine = std::make_unique<FakeEngine>();
  FakeEngine* fake = engine.get();
  fake->set_warm_up_blocked(true);
  ServerOptions options;
  options.listen_address = absl::StrCat("127.0.0.1:", port);
  options.service.logger = nullptr;
  absl::StatusOr<std::unique_ptr<ServerApp>> app = absl::UnknownError("not started");
  std::thread starter([&] { app = ServerApp::Start(std::move(engine), options); });

  // Warming up: nothing answers on the port yet (probes see a failure).
  {
    auto channel = grpc::CreateChannel(options.listen_address, grpc::InsecureChannelCredentials());
    HealthCheckResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    const grpc::Status status =
        grpc::health::v1::Health::NewStub(channel)->Check(&context, {}, &response);
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(fake->warm_ups(), 0);
  }
  fake->set_warm_up_blocked(false);
  starter.join();
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ(fake->warm_ups(), 1);
  EXPECT_TRUE((*app)->serving());
  auto channel = grpc::CreateChannel(options.listen_address, grpc::InsecureChannelCredentials());
  HealthCheckResponse response;
  ASSERT_TRUE(CheckHealth(channel, &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  (*app)->Shutdown();
  EXPECT_FALSE((*app)->serving());
}

using DrainTest = FakeServerTest;

TEST_F(DrainTest, InFlightStreamsCompleteWhileNewCallsGetUnavailable) {
  engine_->set_hold_after_tokens(2);
  std::vector<StreamResult> results(2);
  std::vector<std::thread> streams;
  for (int i = 0; i < 2; ++i) {
    streams.emplace_back([&, i] { results[i] = Stream(TextRequest(std::string(i + 1, 'd'), 6)); });
  }
  ASSERT_TRUE(engine_->WaitForLive(2));

  std::thread stopper([&] { app_->Shutdown(absl::Seconds(120)); });
  // Health turns NOT_SERVING at once, and the server stops listening (GOAWAY
  // to connected clients), so balancers send new calls elsewhere.
  for (int i = 0; i < 4000 && app_->serving(); ++i) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_FALSE(app_->serving());
  bool refused = false;
  for (int i = 0; i < 400 && !refused; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(app_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    refused = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0;
    close(fd);
    if (!refused) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(refused) << "still listening while draining";
  // After the listener's settle time gRPC sends GOAWAY: the client's
  // connection stops being used for new calls.
  for (int i = 0; i < 400 && channel_->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
       ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_NE(channel_->GetState(/*try_to_connect=*/false), GRPC_CHANNEL_READY);
  {
    HealthCheckResponse health;
    const grpc::Status status = CheckHealth(channel_, &health);
    EXPECT_FALSE(status.ok() && health.status() == HealthCheckResponse::SERVING);
  }
  // New calls fail with UNAVAILABLE (the connection went away with the GOAWAY
  // and the listener is closed), never reaching the engine.
  v1::GenerateResponse response;
  EXPECT_EQ(Generate(TextRequest("late", 3), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Stream(TextRequest("late", 3)).status.error_code(), grpc::StatusCode::UNAVAILABLE);
  {
    grpc::ClientContext context;
    v1::TokenizeRequest request;
    request.set_text("x");
    v1::TokenizeResponse tokens;
    EXPECT_EQ(stub_->Tokenize(&context, request, &tokens).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_EQ(engine_->added_requests(), 2);  // the late calls never reached the engine

  // The calls in flight run to completion.
  engine_->set_hold_after_tokens(-1);
  for (auto& t : streams) t.join();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << results[i].status.error_message();
    EXPECT_EQ(results[i].text, FakeEngine::ExpectedText(TextIds(std::string(i + 1, 'd')), 6));
    EXPECT_EQ(results[i].messages.back().finish_reason(), v1::FINISH_REASON_LENGTH);
  }
  stopper.join();  // returns once they finished, long before the drain timeout
  app_->Wait();
  EXPECT_EQ(engine_->live_requests(), 0);
  EXPECT_TRUE(engine_->aborted_ids().empty());

  const Scrape scrape(app_->metrics().SerializeText());
  EXPECT_EQ(scrape.Value("llmserve_request_success_total", {{"finish_reason", "length"}}), 2);
}

TEST_F(DrainTest, DrainTimeoutCancelsTheRestWithUnavailable) {
  engine_->set_hold_after_tokens(1);  // never finish on their own
  std::vector<StreamResult> results(2);
  v1::GenerateResponse unary_response;
  grpc::Status unary_status;
  std::vector<std::thread> calls;
  calls.emplace_back([&] { results[0] = Stream(TextRequest("s0", 40)); });
  calls.emplace_back([&] { results[1] = Stream(TextRequest("s1", 40)); });
  calls.emplace_back([&] { unary_status = Generate(TextRequest("u", 40), &unary_response); });
  ASSERT_TRUE(engine_->WaitForLive(3));

  app_->Shutdown(absl::Milliseconds(200));  // returns after cancelling them
  for (auto& t : calls) t.join();
  for (const StreamResult& r : results) {
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(r.status.error_message(), HasSubstr("server draining"));
    EXPECT_FALSE(r.messages.empty());  // they were streaming when cancelled
  }
  EXPECT_EQ(unary_status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(engine_->live_requests(), 0);
  app_->Wait();

  const Scrape scrape(app_->metrics().SerializeText());
  EXPECT_EQ(scrape.Value("llmserve_request_failure_total", {{"code", "UNAVAILABLE"}}), 3);
  // After the drain the gRPC server is gone: calls fail fast, no hang.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_FALSE(stub_->Generate(&context, TextRequest("after", 2), &unary_response).ok());
}

TEST_F(DrainTest, ShutdownIsIdempotentAndConcurrentCallsWait) {
  engine_->set_hold_after_tokens(1);
  StreamResult result;
  std::thread call([&] { result = Stream(TextRequest("x", 9)); });
  ASSERT_TRUE(engine_->WaitForLive(1));
  std::thread first([&] { app_->Shutdown(absl::Milliseconds(100)); });
  // Once the first has begun (health NOT_SERVING), a second call with a far
  // longer drain timeout just waits for the first to complete.
  for (int i = 0; i < 4000 && app_->serving(); ++i) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_FALSE(app_->serving());
  std::thread second([&] { app_->Shutdown(absl::Seconds(1000)); });
  first.join();
  second.join();
  call.join();
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  app_->Shutdown();
  app_->Wait();
  EXPECT_FALSE(app_->serving());
}

using WatchdogTest = FakeServerTest;

TEST_F(WatchdogTest, StuckEngineIsNotServingUntilItProgresses) {
  RestartServer([](ServerOptions& o) { o.watchdog_timeout = absl::Milliseconds(200); });
  HealthCheckResponse response;
  ASSERT_TRUE(CheckHealth(channel_, &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  engine_->set_stuck(true);
  v1::GenerateResponse generated;
  grpc::Status status;
  std::thread call([&] { status = Generate(TextRequest("w", 4), &generated); });
  ASSERT_TRUE(engine_->WaitForLive(1));
  // Work pending and no progress: the watchdog takes the replica out.
  ASSERT_TRUE(WaitForHealth(channel_, HealthCheckResponse::NOT_SERVING));
  EXPECT_FALSE(app_->serving());

  // Progress again: back to SERVING, and the request completes.
  engine_->set_stuck(false);
  ASSERT_TRUE(WaitForHealth(channel_, HealthCheckResponse::SERVING));
  call.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(generated.text(), FakeEngine::ExpectedText(TextIds("w"), 4));

  // A stuck engine with nothing to do is not a stall.
  engine_->set_stuck(true);
  EXPECT_EQ(engine_->SecondsSinceProgress(), 0.0);
  engine_->set_stuck(false);
  // Draining wins over a recovered watchdog: NOT_SERVING stays.
  app_->Shutdown();
  EXPECT_FALSE(app_->serving());
}

// The llmserve binary: SIGTERM → drain → exit code 0, with a stream in flight.
TEST(ServerBinaryTest, SigtermDrainsAndExitsZero) {
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  const std::string binary = (self.parent_path().parent_path() / "server" / "llmserve").string();
  ASSERT_TRUE(std::filesystem::exists(binary)) << "not built: " << binary;
  const std::string model = llmserve::testing::SharedPath("models/stories260K/stories260K.bin");
  const std::string dir = llmserve::testing::MakeTempDir("llmserve_sigterm");
  const std::string log_path = dir + "/stderr.log";

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    dup2(fd, STDOUT_FILENO);
    execl(binary.c_str(), binary.c_str(), "--model", model.c_str(), "--listen", "127.0.0.1:0",
          "--metrics-address=127.0.0.1:0", "--threads=1", "--drain-timeout", "30",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait (bounded) for "serving on ADDRESS".
  std::string address;
  for (int i = 0; i < 6000 && address.empty(); ++i) {
    const std::string log = llmserve::testing::ReadFile(log_path);
    const size_t at = log.find("serving on ");
    if (at != std::string::npos) {
      const size_t end = log.find_first_of(" \n", at + 11);
      if (end != std::string::npos) address = log.substr(at + 11, end - (at + 11));
    }
    if (address.empty()) absl::SleepFor(absl::Milliseconds(10));
  }
  if (address.empty()) kill(pid, SIGKILL);
  ASSERT_FALSE(address.empty()) << llmserve::testing::ReadFile(log_path);

  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = v1::Generation::NewStub(channel);
  v1::GenerateRequest request;
  request.set_text("Once upon a time");
  request.mutable_sampling_params()->set_max_tokens(400);
  request.mutable_sampling_params()->set_ignore_eos(true);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto reader = stub->GenerateStream(&context, request);
  v1::GenerateStreamResponse message;
  ASSERT_TRUE(reader->Read(&message));
  uint32_t tokens = message.token_ids_size();
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  v1::GenerateStreamResponse last;
  while (reader->Read(&message)) {
    tokens += message.token_ids_size();
    last = message;
  }
  const grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();  // in flight: allowed to finish
  EXPECT_EQ(tokens, 400u);

  int wait_status = 0;
  pid_t done = 0;
  for (int i = 0; i < 6000 && done == 0; ++i) {
    done = waitpid(pid, &wait_status, WNOHANG);
    if (done == 0) absl::SleepFor(absl::Milliseconds(10));
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &wait_status, 0);
  }
  ASSERT_EQ(done, pid) << "llmserve did not exit after SIGTERM";
  ASSERT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 0);
  const std::string log = llmserve::testing::ReadFile(log_path);
  EXPECT_THAT(log, HasSubstr("SIGTERM received"));
  EXPECT_THAT(log, HasSubstr("llmserve: stopped"));
}

}  // namespace
}  // namespace llmserve::server
