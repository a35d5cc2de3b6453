#ifndef LLMSERVE_TESTS_SERVER_METRICS_SCRAPE_H_
#define LLMSERVE_TESTS_SERVER_METRICS_SCRAPE_H_

// Scraping /metrics in tests: a minimal HTTP/1.0 GET client over a socket and
// a reader for the Prometheus text format. Header-only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace llmserve::testing {

/// An HTTP response: status code (0 if none was received) and body.
struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string body;
};

/// GET http://127.0.0.1:`port``path` (HTTP/1.0, connection closed by the
/// server). Every socket operation times out after 10 s.
inline HttpResponse HttpGet(int port, const std::string& path) {
  HttpResponse response;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return response;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return response;
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return response;
  }
  std::string raw;
  char buffer[8192];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) raw.append(buffer, static_cast<size_t>(n));
  close(fd);
  const size_t header_end = raw.find("\r\n\r\n");
  if (header_end == std::string::npos) return response;
  response.headers = raw.substr(0, header_end);
  response.body = raw.substr(header_end + 4);
  // "HTTP/1.x 200 OK"
  const std::vector<absl::string_view> first = absl::StrSplit(
      absl::string_view(response.headers).substr(0, response.headers.find("\r\n")), ' ');
  if (first.size() >= 2 && !absl::SimpleAtoi(first[1], &response.status)) response.status = 0;
  return response;
}

/// One sample line of the text format: `name{k="v",...} value`.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// The samples of a text-format exposition (comments and blank lines skipped;
/// label values without escapes, as llmserve's are).
inline std::vector<Sample> ParseSamples(const std::string& text) {
  std::vector<Sample> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line.front() == '#') continue;
    Sample s;
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    absl::string_view head = line.substr(0, space);
    if (!absl::SimpleAtod(line.substr(space + 1), &s.value)) continue;
    const size_t brace = head.find('{');
    s.name = std::string(head.substr(0, brace));
    if (brace != absl::string_view::npos) {
      absl::string_view labels = absl::StripSuffix(head.substr(brace + 1), "}");
      for (absl::string_view pair : absl::StrSplit(labels, "\",", absl::SkipEmpty())) {
        const size_t eq = pair.find("=\"");
        if (eq == absl::string_view::npos) continue;
        s.labels[std::string(pair.substr(0, eq))] =
            std::string(absl::StripSuffix(pair.substr(eq + 2), "\""));
      }
    }
    samples.push_back(std::move(s));
  }
  return samples;
}

/// A scraped exposition with lookups.
class Scrape {
 public:
  explicit Scrape(std::string text) : text_(std::move(text)), samples_(ParseSamples(text_)) {}

  /// The sum of the samples named `name` whose labels include all of
  /// `labels` (e.g. {code=CANCELLED} sums api="grpc" and api="http"); nullopt
  /// if there is none.
  std::optional<double> Get(const std::string& name,
                            const std::map<std::string, std::string>& labels = {}) const {
    std::optional<double> sum;
    for (const Sample& s : samples_) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [key, value] : labels) {
        auto it = s.labels.find(key);
        if (it == s.labels.end() || it->second != value) match = false;
      }
      if (match) sum = sum.value_or(0) + s.value;
    }
    return sum;
  }
  /// Get(), or -1 when missing (for EXPECT_EQ with readable failures).
  double Value(const std::string& name,
               const std::map<std::string, std::string>& labels = {}) const {
    return Get(name, labels).value_or(-1);
  }
  const std::string& text() const { return text_; }
  const std::vector<Sample>& samples() const { return samples_; }

 private:
  std::string text_;
  std::vector<Sample> samples_;
};

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_SERVER_METRICS_SCRAPE_H_
