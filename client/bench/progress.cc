#include "client/bench/progress.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace llmserve::bench {

std::string FormatProgress(const ProgressSnapshot& s, int bar_width) {
  std::string bar;
  if (s.total > 0) {
    const int filled =
        std::clamp(static_cast<int>(static_cast<long long>(s.finished) * bar_width / s.total), 0,
                   bar_width);
    bar = absl::StrFormat("[%s%s] %d/%d", std::string(filled, '#'),
                          std::string(bar_width - filled, '.'), s.finished, s.total);
  } else {
    bar = absl::StrFormat("%d", s.finished);
  }
  const double t = std::max(s.elapsed_seconds, 1e-9);
  return absl::StrFormat("%s requests  %.1f s  %.1f req/s  %.0f tok/s", bar, s.elapsed_seconds,
                         s.finished / t, static_cast<double>(s.output_tokens) / t);
}

ProgressBar::ProgressBar(FILE* out, std::function<ProgressSnapshot()> poll)
    : out_(out), poll_(std::move(poll)), enabled_(isatty(fileno(out)) == 1) {
  if (!enabled_) return;
  thread_ = std::thread([this] {
    absl::MutexLock lock(&mu_);
    auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    while (!mu_.AwaitWithTimeout(absl::Condition(&stopped), absl::Milliseconds(200))) {
      absl::FPrintF(out_, "\r\033[K%s", FormatProgress(poll_()));
      std::fflush(out_);
    }
  });
}

ProgressBar::~ProgressBar() {
  if (!enabled_) return;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
  absl::FPrintF(out_, "\r\033[K");
  std::fflush(out_);
}

}  // namespace llmserve::bench
