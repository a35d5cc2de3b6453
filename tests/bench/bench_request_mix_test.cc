// RequestMix: per-request choices of a mixed load are reproducible, follow
// their fractions and are independent of each other; and LoadDriver applies
// them against FakeGenerationServer (a paced stream): the chosen requests are
// cancelled by the client mid-stream (CANCELLED, after the configured number
// of tokens) and get no deadline, only the chosen ones get the deadline, the
// others complete.

#include "client/bench/request_mix.h"

#include <gtest/gtest.h>

#include "client/bench/fake_generation_server.h"
#include "client/bench/grpc_backend.h"
#include "client/bench/load_driver.h"
#include "client/bench/workload.h"
#include "tests/bench/callback_queue_keepalive.h"

namespace llmserve::bench {
namespace {

TEST(RequestMixTest, DefaultsMixNothing) {
  const RequestMix mix;
  EXPECT_TRUE(mix.Validate(/*stream=*/true).ok());
  EXPECT_TRUE(mix.Validate(/*stream=*/false).ok());
  for (int i = 0; i < 1000; ++i) {
    const RequestVariant v = mix.Choose(i);
    EXPECT_FALSE(v.cancel) << i;
    EXPECT_TRUE(v.timeout) << i;
    EXPECT_TRUE(v.n_logprobs) << i;
  }
}

TEST(RequestMixTest, FractionsAreFollowedIndependentlyAndReproducibly) {
  RequestMix mix;
  mix.cancel_fraction = 0.2;
  mix.timeout_fraction = 0.5;
  mix.n_logprobs_fraction = 0.3;
  mix.seed = 7;
  constexpr int kN = 20000;
  int cancel = 0, timeout = 0, n = 0, cancel_and_timeout = 0;
  for (int i = 0; i < kN; ++i) {
    const RequestVariant v = mix.Choose(i);
    cancel += v.cancel;
    timeout += v.timeout;
    n += v.n_logprobs;
    cancel_and_timeout += v.cancel && v.timeout;
    const RequestVariant again = mix.Choose(i);
    ASSERT_EQ(again.cancel, v.cancel);
    ASSERT_EQ(again.timeout, v.timeout);
    ASSERT_EQ(again.n_logprobs, v.n_logprobs);
  }
  // Binomial standard deviations are <= 71 here; 5 sigma.
  EXPECT_NEAR(cancel, 0.2 * kN, 360);
  EXPECT_NEAR(timeout, 0.5 * 0.8 * kN, 360);  // half of the requests not cancelled
  EXPECT_NEAR(n, 0.3 * kN, 360);
  EXPECT_EQ(cancel_and_timeout, 0);  // a cancelled request gets no deadline
  int cancel_and_n = 0;
  for (int i = 0; i < kN; ++i) cancel_and_n += mix.Choose(i).cancel && mix.Choose(i).n_logprobs;
  EXPECT_NEAR(cancel_and_n, 0.2 * 0.3 * kN, 360);  // independent draws
  // Another seed chooses other requests.
  RequestMix other = mix;
  other.seed = 8;
  int differ = 0;
  for (int i = 0; i < 1000; ++i) differ += other.Choose(i).cancel != mix.Choose(i).cancel;
  EXPECT_GT(differ, 100);
}

TEST(RequestMixTest, ValidateRejectsBadFields) {
  RequestMix mix;
  mix.cancel_fraction = 1.5;
  EXPECT_EQ(mix.Validate(true).code(), absl::StatusCode::kInvalidArgument);
  mix = RequestMix();
  mix.timeout_fraction = -0.1;
  EXPECT_EQ(mix.Validate(true).code(), absl::StatusCode::kInvalidArgument);
  mix = RequestMix();
  mix.n_logprobs_fraction = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(mix.Validate(true).code(), absl::StatusCode::kInvalidArgument);
  mix = RequestMix();
  mix.cancel_after_tokens = 0;
  EXPECT_EQ(mix.Validate(true).code(), absl::StatusCode::kInvalidArgument);
  mix = RequestMix();
  mix.cancel_fraction = 0.1;
  EXPECT_TRUE(mix.Validate(/*stream=*/true).ok());
  const absl::Status unary = mix.Validate(/*stream=*/false);
  EXPECT_EQ(unary.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unary.message().find("streamed"), std::string::npos) << unary;
}

struct Fixture {
  explicit Fixture(FakeServerOptions options) {
    llmserve::testing::KeepCallbackQueueAlive();
    auto started = FakeGenerationServer::Start(std::move(options));
    EXPECT_TRUE(started.ok()) << started.status();
    server = *std::move(started);
    driver = std::make_unique<LoadDriver>(
        std::make_unique<GrpcBackend>(std::vector<std::shared_ptr<grpc::Channel>>{
            grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials())}));
  }
  std::unique_ptr<FakeGenerationServer> server;
  std::unique_ptr<LoadDriver> driver;
};

std::vector<BenchRequest> Workload(int n, int max_tokens) {
  RandomWorkloadOptions o;
  o.num_requests = n;
  o.input_len = 4;
  o.output_len = max_tokens;
  o.vocab_size = 100;
  return RandomWorkload(o).value();
}

TEST(RequestMixLoadTest, ChosenRequestsAreCancelledMidStream) {
  constexpr int kTokens = 40, kRequests = 24, kCancelAfter = 3;
  FakeServerOptions fake;
  fake.itl_seconds = 0.01;  // the whole stream takes 0.4 s: a cancel after 3 tokens is mid-stream
  Fixture f(fake);
  LoadOptions o;
  o.concurrency = 8;
  o.num_requests = kRequests;
  o.timeout_seconds = 120;  // nothing can hang the test
  o.mix.cancel_fraction = 0.5;
  o.mix.cancel_after_tokens = kCancelAfter;
  o.mix.seed = 3;
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(kRequests, kTokens), o);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->records.size(), static_cast<size_t>(kRequests));
  int cancelled = 0;
  for (const RequestRecord& r : run->records) {
    SCOPED_TRACE(r.index);
    EXPECT_EQ(r.had_deadline, !o.mix.Choose(r.index).cancel);
    if (o.mix.Choose(r.index).cancel) {
      ++cancelled;
      EXPECT_TRUE(r.client_cancelled);
      EXPECT_EQ(r.status, grpc::StatusCode::CANCELLED) << r.error;
      EXPECT_GE(r.output_tokens, kCancelAfter);
      EXPECT_LT(r.output_tokens, kTokens);
    } else {
      EXPECT_FALSE(r.client_cancelled);
      EXPECT_EQ(r.status, grpc::StatusCode::OK) << r.error;
      EXPECT_EQ(r.output_tokens, kTokens);
    }
  }
  EXPECT_GT(cancelled, 0);
  EXPECT_LT(cancelled, kRequests);
}

TEST(RequestMixLoadTest, OnlyChosenRequestsGetTheDeadline) {
  constexpr int kTokens = 30, kRequests = 16;
  FakeServerOptions fake;
  fake.itl_seconds = 0.02;  // 0.6 s per stream, far beyond the 0.1 s deadline
  Fixture f(fake);
  LoadOptions o;
  o.concurrency = 8;
  o.num_requests = kRequests;
  o.timeout_seconds = 0.1;
  o.mix.timeout_fraction = 0.5;
  o.mix.seed = 5;
  absl::StatusOr<RunResult> run = f.driver->Run(Workload(kRequests, kTokens), o);
  ASSERT_TRUE(run.ok()) << run.status();
  int with_deadline = 0;
  for (const RequestRecord& r : run->records) {
    SCOPED_TRACE(r.index);
    EXPECT_FALSE(r.client_cancelled);
    EXPECT_EQ(r.had_deadline, o.mix.Choose(r.index).timeout);
    if (r.had_deadline) {
      ++with_deadline;
      EXPECT_EQ(r.status, grpc::StatusCode::DEADLINE_EXCEEDED) << r.error;
    } else {
      EXPECT_EQ(r.status, grpc::StatusCode::OK) << r.error;
      EXPECT_EQ(r.output_tokens, kTokens);
    }
  }
  EXPECT_GT(with_deadline, 0);
  EXPECT_LT(with_deadline, kRequests);
}

TEST(RequestMixLoadTest, LoadDriverRejectsAnInvalidMix) {
  Fixture f(FakeServerOptions{});
  LoadOptions o;
  o.concurrency = 1;
  o.num_requests = 1;
  o.stream = false;
  o.mix.cancel_fraction = 0.5;
  EXPECT_EQ(f.driver->Run(Workload(1, 2), o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace llmserve::bench
