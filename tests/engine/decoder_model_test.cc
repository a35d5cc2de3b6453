// The decoder forward pass against golden logits of an independent
// implementation (llama2.c run.c semantics), teacher-forced through the paged
// KV cache: as one prefill and token by token (decode) alike.
#include "engine/models/decoder_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "engine/loaders/model_loader.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::ReadJsonFile;
using ::llmserve::testing::SharedPath;

constexpr int kBlockSize = 16;

// Runs one sequence through the model with an identity block table.
class SingleSequenceRunner {
 public:
  SingleSequenceRunner(DecoderModel* model, int max_tokens) : model_(model) {
    const ModelConfig& c = model->config();
    KVCacheShape shape{c.num_layers, (max_tokens + kBlockSize - 1) / kBlockSize, c.num_kv_heads,
                       kBlockSize, c.head_dim};
    cache_ = *KVCache::Create(shape);
    block_table_.resize(shape.num_blocks);
    // A scrambled (non-identity) block table: paging must not matter.
    for (int i = 0; i < shape.num_blocks; ++i) block_table_[i] = shape.num_blocks - 1 - i;
  }

  // Feeds tokens [start, start + n) of `tokens`; returns logits of the last one.
  std::vector<float> Feed(const std::vector<int32_t>& tokens, int start, int n) {
    std::vector<int32_t> ids(tokens.begin() + start, tokens.begin() + start + n), pos(n);
    std::vector<int64_t> slots(n);
    for (int i = 0; i < n; ++i) {
      pos[i] = start + i;
      slots[i] = int64_t{block_table_[pos[i] / kBlockSize]} * kBlockSize + pos[i] % kBlockSize;
    }
    const int32_t qsl[2] = {0, n};
    const int32_t ctx = start + n;
    const int32_t logits_index = n - 1;
    ForwardInput in;
    in.num_tokens = n;
    in.token_ids = ids.data();
    in.positions = pos.data();
    in.slot_mapping = slots.data();
    in.attention = {1, qsl, &ctx, block_table_.data(), static_cast<int>(block_table_.size())};
    in.num_logits = 1;
    in.logits_indices = &logits_index;
    std::vector<float> logits(model_->config().vocab_size);
    absl::Status s = model_->Forward(in, *cache_, logits.data());
    EXPECT_TRUE(s.ok()) << s;
    return logits;
  }

 private:
  DecoderModel* model_;
  std::unique_ptr<KVCache> cache_;
  std::vector<int32_t> block_table_;
};

std::vector<int32_t> Top5(const std::vector<float>& logits) {
  std::vector<int32_t> idx(logits.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + 5, idx.end(),
                    [&](int a, int b) { return logits[a] > logits[b]; });
  idx.resize(5);
  return idx;
}

class DecoderModelGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto weights = LoadModelWeights(SharedPath("models/stories260K/stories260K.bin"));
    ASSERT_TRUE(weights.ok()) << weights.status();
    DecoderModelOptions options;
    options.max_num_tokens = 512;
    auto model = DecoderModel::Create(*weights, options);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    golden_ = ReadJsonFile(SharedPath("reference/stories260K-greedy.json"));
    ASSERT_TRUE(golden_.contains("cases"));
  }
  std::unique_ptr<DecoderModel> model_;
  nlohmann::json golden_;
};

TEST_F(DecoderModelGoldenTest, Top5LogitsOfFirstPositionsMatchDecodeAndPrefill) {
  for (const auto& c : golden_["cases"]) {
    std::vector<int32_t> tokens = c["prompt_token_ids"].get<std::vector<int32_t>>();
    for (int32_t t : c["greedy_completion_token_ids"].get<std::vector<int32_t>>()) tokens.push_back(t);
    SCOPED_TRACE(c["prompt"].get<std::string>());
    SingleSequenceRunner decode(model_.get(), 512);
    for (const auto& pos_case : c["logits_top5"]) {
      const int pos = pos_case["position"];
      ASSERT_EQ(tokens[pos], pos_case["input_token"].get<int32_t>());
      // Token by token (decode path).
      const std::vector<float> logits = decode.Feed(tokens, pos, 1);
      // All positions up to `pos` at once (prefill path), on a fresh cache.
      SingleSequenceRunner prefill(model_.get(), 512);
      const std::vector<float> prefill_logits = prefill.Feed(tokens, 0, pos + 1);
      const auto want_ids = pos_case["top5_ids"].get<std::vector<int32_t>>();
      const auto want_logits = pos_case["top5_logits"].get<std::vector<float>>();
      EXPECT_EQ(Top5(logits), want_ids) << "position " << pos;
      EXPECT_EQ(Top5(prefill_logits), want_ids) << "position " << pos;
      for (int k = 0; k < 5; ++k) {
        EXPECT_NEAR(logits[want_ids[k]], want_logits[k], 1e-3) << "position " << pos;
        EXPECT_NEAR(prefill_logits[want_ids[k]], want_logits[k], 1e-3) << "position " << pos;
      }
    }
  }
}

TEST_F(DecoderModelGoldenTest, GreedyDecodeMatchesReferenceTokens) {
  for (const auto& c : golden_["cases"]) {
    SCOPED_TRACE(c["prompt"].get<std::string>());
    std::vector<int32_t> tokens = c["prompt_token_ids"].get<std::vector<int32_t>>();
    const auto want = c["greedy_completion_token_ids"].get<std::vector<int32_t>>();
    SingleSequenceRunner runner(model_.get(), 512);
    std::vector<float> logits = runner.Feed(tokens, 0, static_cast<int>(tokens.size()));
    std::vector<int32_t> got;
    while (got.size() < want.size()) {
      const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      got.push_back(next);
      tokens.push_back(next);
      if (got.size() < want.size()) logits = runner.Feed(tokens, static_cast<int>(tokens.size()) - 1, 1);
    }
    EXPECT_EQ(got, want);
  }
}

TEST_F(DecoderModelGoldenTest, RejectsOutOfRangeInputs) {
  SingleSequenceRunner runner(model_.get(), 64);
  const int32_t ids[1] = {512};
  const int32_t pos[1] = {0};
  const int64_t slots[1] = {0};
  const int32_t qsl[2] = {0, 1};
  const int32_t ctx = 1, table = 0, li = 0;
  ForwardInput in;
  in.num_tokens = 1;
  in.token_ids = ids;
  in.positions = pos;
  in.slot_mapping = slots;
  in.attention = {1, qsl, &ctx, &table, 1};
  in.num_logits = 1;
  in.logits_indices = &li;
  KVCacheShape shape{5, 1, 4, kBlockSize, 8};
  auto cache = KVCache::Create(shape);
  std::vector<float> logits(512);
  auto s = model_->Forward(in, **cache, logits.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("token id 512"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace llmserve
