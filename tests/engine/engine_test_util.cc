#include "tests/engine/engine_test_util.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace llmserve::testing {

std::vector<GoldenCase> LoadGoldenCases() {
  std::vector<GoldenCase> cases;
  const nlohmann::json golden = ReadJsonFile(SharedPath("reference/stories260K-greedy.json"));
  for (const auto& c : golden["cases"]) {
    GoldenCase g;
    g.prompt = c["prompt"];
    g.prompt_ids = c["prompt_token_ids"].get<std::vector<int32_t>>();
    g.completion_ids = c["greedy_completion_token_ids"].get<std::vector<int32_t>>();
    const std::string text = c["text"];
    EXPECT_EQ(text.compare(0, g.prompt.size(), g.prompt), 0);
    g.completion_text = text.substr(g.prompt.size());
    cases.push_back(std::move(g));
  }
  EXPECT_FALSE(cases.empty());
  return cases;
}

OutputCallback OutputCollector::Callback() {
  return [this](RequestOutput out) {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(done_) << "output after the final one";
    done_ = out.finished;
    outputs_.push_back(std::move(out));
  };
}

RequestOutput OutputCollector::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
  RequestOutput all = outputs_.back();
  all.token_ids.clear();
  all.text.clear();
  for (const RequestOutput& o : outputs_) {
    all.token_ids.insert(all.token_ids.end(), o.token_ids.begin(), o.token_ids.end());
    all.text += o.text;
  }
  return all;
}

int OutputCollector::num_outputs() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(outputs_.size());
}

EngineOptions Stories260KOptions() {
  EngineOptions o;
  o.model_path = SharedPath("models/stories260K/stories260K.bin");
  o.num_threads = 2;
  return o;
}

}  // namespace llmserve::testing
