#ifndef LLMSERVE_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
#define LLMSERVE_TESTS_ENGINE_ENGINE_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "engine/llm_engine.h"
#include "nlohmann/json.hpp"

namespace llmserve::testing {

/// One golden greedy case of reference/stories260K-greedy.json.
struct GoldenCase {
  std::string prompt;
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> completion_ids;
  std::string completion_text;  ///< reference text with the prompt removed
};

/// Reads every case of the stories260K golden file.
std::vector<GoldenCase> LoadGoldenCases();

/// Collects the outputs of one request (thread-safe; used as OutputCallback).
class OutputCollector {
 public:
  OutputCallback Callback();
  /// Blocks until the final output arrived; returns it with token_ids/text
  /// holding the concatenation of every output.
  RequestOutput Wait();
  /// Number of outputs received so far.
  int num_outputs();

 private:
  absl::Mutex mu_;
  std::vector<RequestOutput> outputs_;
  bool done_ = false;
};

/// Options for the stories260K engine used by the engine tests.
EngineOptions Stories260KOptions();

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
