#include "engine/stop_checker.h"

#include <algorithm>

namespace llmserve {

StopChecker::StopChecker(std::vector<std::string> stop) : stop_(std::move(stop)) {
  for (const std::string& s : stop_) max_stop_len_ = std::max(max_stop_len_, s.size());
}

std::string StopChecker::Append(const std::string& text, bool* stopped) {
  *stopped = false;
  if (stop_.empty()) return text;
  const std::size_t old_size = text_.size();
  text_ += text;
  // A new match must end in the appended text; it may start up to
  // max_stop_len_ - 1 bytes earlier (in the held-back part).
  const std::size_t from = old_size > max_stop_len_ ? old_size - max_stop_len_ + 1 : 0;
  std::size_t first = std::string::npos;
  for (const std::string& s : stop_) {
    const std::size_t pos = text_.find(s, std::max(from, released_));
    if (pos != std::string::npos) first = std::min(first, pos);
  }
  if (first != std::string::npos) {
    *stopped = true;
    std::string out = text_.substr(released_, first - released_);
    released_ = first;
    text_.resize(first);
    return out;
  }
  // Hold back the longest unreleased suffix that is a proper prefix of a stop string.
  std::size_t hold = 0;
  const std::size_t unreleased = text_.size() - released_;
  for (const std::string& s : stop_) {
    for (std::size_t k = std::min(unreleased, s.size() - 1); k > hold; --k) {
      if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  const std::size_t end = text_.size() - hold;
  std::string out = text_.substr(released_, end - released_);
  released_ = end;
  return out;
}

std::string StopChecker::Flush() {
  std::string out = text_.substr(released_);
  released_ = text_.size();
  return out;
}

}  // namespace llmserve
