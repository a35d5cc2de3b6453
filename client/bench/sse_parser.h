#ifndef LLMSERVE_CLIENT_BENCH_SSE_PARSER_H_
#define LLMSERVE_CLIENT_BENCH_SSE_PARSER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace llmserve::bench {

/// One dispatched server-sent event.
struct SseEvent {
  std::string event;  ///< the `event:` field; empty for the default "message"
  std::string data;   ///< the `data:` lines joined with "\n"
};

/// Incremental parser of a text/event-stream body, as the WHATWG HTML
/// standard's "Parsing an event stream" (§9.2.6) specifies it: lines end
/// with CRLF, LF or CR (also split across Feed calls); "field: value" (one
/// space after the colon dropped); `data` lines append to the event's data;
/// a line starting with ':' is a comment; an empty line dispatches the event
/// (none if no data line was seen); unknown fields (`id`, `retry`, ...) are
/// ignored. Bytes may arrive in any split.
class SseParser {
 public:
  /// Refuses lines or events longer than this many bytes.
  explicit SseParser(size_t max_event_bytes = 1 << 20) : max_event_bytes_(max_event_bytes) {}

  /// Parses `bytes` and appends every event completed by them to `events`.
  /// Errors: RESOURCE_EXHAUSTED when a line or an event exceeds the limit
  /// (the parser is then unusable).
  absl::Status Feed(std::string_view bytes, std::vector<SseEvent>* events);

 private:
  void ProcessLine(std::vector<SseEvent>* events);

  size_t max_event_bytes_;
  std::string line_;
  bool skip_lf_ = false;  ///< the last byte was a CR: a following LF ends nothing
  std::string event_;
  std::string data_;
  bool has_data_ = false;
};

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_SSE_PARSER_H_
