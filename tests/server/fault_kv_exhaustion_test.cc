// Fault: the KV cache exhausted by long prompts. With a cache of 32 blocks
// (kv_cache_bytes, as --kv-cache-bytes sets it) six concurrent requests of
// 160-token prompts and 150 greedy tokens each (20 blocks apiece) cannot all
// hold their blocks: the scheduler preempts, recomputes, and every request
// still completes, over gRPC, with exactly the tokens it gets alone. The
// preemption counter rose; afterwards no request and no KV block is held.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "llmserve/v1/generation.grpc.pb.h"
#include "tests/server/metrics_scrape.h"
#include "tests/server/stories_server.h"
#include "tests/server/stub_calls.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::CallGenerate;
using ::llmserve::testing::CallStream;
using ::llmserve::testing::Scrape;

constexpr int kRequests = 6;
constexpr int kPromptTokens = 160;
constexpr int kMaxTokens = 150;
// stories260K's K/V per token: 5 layers x 4 KV heads x head_dim 8 x (K, V) x 4 bytes (f32).
constexpr int64_t kBytesPerToken = 5 * 4 * 8 * 2 * 4;
constexpr int64_t kCacheTokens = 512;  // 32 blocks of 16: room for one request and a half

/// A greedy request of kPromptTokens pseudo-random ids (distinct per `seed`).
v1::GenerateRequest LongRequest(int seed) {
  v1::GenerateRequest request;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<uint32_t> id(3, 511);
  request.mutable_token_ids()->add_ids(1);  // BOS
  for (int i = 1; i < kPromptTokens; ++i) request.mutable_token_ids()->add_ids(id(rng));
  request.mutable_sampling_params()->set_max_tokens(kMaxTokens);
  request.mutable_sampling_params()->set_temperature(0);
  request.mutable_sampling_params()->set_ignore_eos(true);
  return request;
}

std::vector<uint32_t> Ids(const google::protobuf::RepeatedField<uint32_t>& ids) {
  return {ids.begin(), ids.end()};
}

using KvExhaustionFaultTest = StoriesServerTest;

TEST_F(KvExhaustionFaultTest, LongPromptsArePreemptedAndAllCompleteWithTheirSoloTokens) {
  StartServer([](EngineOptions& o) {
    o.kv_cache_bytes = kCacheTokens * kBytesPerToken;
    o.block_size = 16;
  });
  ASSERT_EQ(app_->engine().GetStats().num_kv_blocks_total, kCacheTokens / 16);

  // Alone, one at a time: the reference outputs (no preemption).
  std::vector<std::vector<uint32_t>> solo(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    v1::GenerateResponse response;
    const grpc::Status status = CallGenerate(*stub_, LongRequest(i), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.token_ids_size(), kMaxTokens);
    solo[i] = Ids(response.token_ids());
  }
  const int64_t preemptions_before = app_->engine().GetStats().num_preemptions;
  EXPECT_EQ(preemptions_before, 0);

  // All at once (half unary, half streamed): far more K/V than the cache holds.
  std::vector<grpc::Status> statuses(kRequests);
  std::vector<std::vector<uint32_t>> tokens(kRequests);
  std::vector<std::thread> calls;
  for (int i = 0; i < kRequests; ++i) {
    calls.emplace_back([&, i] {
      if (i % 2 == 0) {
        v1::GenerateResponse response;
        statuses[i] = CallGenerate(*stub_, LongRequest(i), &response);
        tokens[i] = Ids(response.token_ids());
      } else {
        const llmserve::testing::StreamResult result = CallStream(*stub_, LongRequest(i));
        statuses[i] = result.status;
        tokens[i] = result.token_ids;
      }
    });
  }
  for (std::thread& t : calls) t.join();
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    EXPECT_EQ(tokens[i], solo[i]) << "request " << i << " differs from its solo output";
  }
  const int64_t preemptions = app_->engine().GetStats().num_preemptions - preemptions_before;
  EXPECT_GT(preemptions, 0) << "the cache was meant to be too small";

  ASSERT_TRUE(WaitForIdle()) << "KV blocks leaked: "
                             << app_->engine().GetStats().num_kv_blocks_used;
  const Scrape scrape = ScrapeMetrics();
  EXPECT_EQ(scrape.Value("llmserve_num_preemptions_total"), static_cast<double>(preemptions));
  EXPECT_EQ(scrape.Value("llmserve_request_success_total", {{"finish_reason", "length"}}),
            2 * kRequests);
  EXPECT_EQ(CallsRecorded(scrape), 2 * kRequests);
  EXPECT_EQ(scrape.Value("llmserve_kv_cache_usage_ratio"), 0);
  EXPECT_TRUE(app_->serving());
}

// Completions sharing a prompt (n > 1) under the same pressure: one request
// of n = 3 needs more K/V than the whole cache (the prompt's 10 blocks shared,
// then 10 more per completion: 40 of 32), and three of n = 2 arrive together.
// Preempted completions recompute (sharing the prompt again when they can)
// and every completion equals the request's greedy solo output.
TEST_F(KvExhaustionFaultTest, CompletionsSharingAPromptArePreemptedAndAllComplete) {
  StartServer([](EngineOptions& o) {
    o.kv_cache_bytes = kCacheTokens * kBytesPerToken;
    o.block_size = 16;
  });
  std::vector<std::vector<uint32_t>> solo(3);
  for (int i = 0; i < 3; ++i) {
    v1::GenerateResponse response;
    ASSERT_TRUE(CallGenerate(*stub_, LongRequest(100 + i), &response).ok());
    solo[i] = Ids(response.token_ids());
  }
  auto check = [&](const v1::GenerateResponse& response, int i, int n) {
    ASSERT_EQ(response.completions_size(), n);
    for (const v1::Completion& c : response.completions()) {
      EXPECT_EQ(Ids(c.token_ids()), solo[i]) << "request " << i << " completion " << c.index();
    }
  };
  {
    v1::GenerateRequest request = LongRequest(100);
    request.mutable_sampling_params()->set_n(3);
    v1::GenerateResponse response;
    const grpc::Status status = CallGenerate(*stub_, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    check(response, 0, 3);
  }
  std::vector<grpc::Status> statuses(3);
  std::vector<v1::GenerateResponse> responses(3);
  std::vector<std::thread> calls;
  for (int i = 0; i < 3; ++i) {
    calls.emplace_back([&, i] {
      v1::GenerateRequest request = LongRequest(100 + i);
      request.mutable_sampling_params()->set_n(2);
      statuses[i] = CallGenerate(*stub_, request, &responses[i]);
    });
  }
  for (std::thread& t : calls) t.join();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    check(responses[i], i, 2);
  }
  EXPECT_GT(app_->engine().GetStats().num_preemptions, 0);
  ASSERT_TRUE(WaitForIdle()) << "KV blocks leaked: "
                             << app_->engine().GetStats().num_kv_blocks_used;
  EXPECT_EQ(ScrapeMetrics().Value("llmserve_kv_cache_usage_ratio"), 0);
}

}  // namespace
}  // namespace llmserve::server
