#ifndef LLMSERVE_ENGINE_STOP_CHECKER_H_
#define LLMSERVE_ENGINE_STOP_CHECKER_H_

#include <string>
#include <vector>

namespace llmserve {

/// Applies stop strings to streamed text (OpenAI/vLLM semantics: generation
/// ends at the first occurrence of any stop string, which is not part of the
/// output). Text that could be the beginning of a stop string is held back
/// until it is known not to be one, so streamed deltas never contain any part
/// of a stop string.
class StopChecker {
 public:
  explicit StopChecker(std::vector<std::string> stop);

  /// Appends newly decoded text; returns the text that can be released now.
  /// Sets *stopped when a stop string completed (the returned text then ends
  /// just before it and nothing more may be appended).
  std::string Append(const std::string& text, bool* stopped);

  /// Releases everything held back (generation ended for another reason).
  std::string Flush();

 private:
  std::vector<std::string> stop_;
  std::size_t max_stop_len_ = 0;
  std::string text_;          // all text so far
  std::size_t released_ = 0;  // bytes of text_ already returned
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_STOP_CHECKER_H_
