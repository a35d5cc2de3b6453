#include "client/bench/sse_parser.h"

#include "absl/strings/str_cat.h"

namespace llmserve::bench {

absl::Status SseParser::Feed(std::string_view bytes, std::vector<SseEvent>* events) {
  for (const char c : bytes) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') continue;
    }
    if (c == '\r' || c == '\n') {
      skip_lf_ = c == '\r';
      ProcessLine(events);
      line_.clear();
      continue;
    }
    line_.push_back(c);
    if (line_.size() + data_.size() > max_event_bytes_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("server-sent event longer than ", max_event_bytes_, " bytes"));
    }
  }
  return absl::OkStatus();
}

void SseParser::ProcessLine(std::vector<SseEvent>* events) {
  if (line_.empty()) {  // dispatch
    if (has_data_) events->push_back(SseEvent{std::move(event_), std::move(data_)});
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line_[0] == ':') return;  // comment
  std::string_view line(line_);
  std::string_view field = line, value;
  if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  }
}

}  // namespace llmserve::bench
