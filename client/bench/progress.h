#ifndef LLMSERVE_CLIENT_BENCH_PROGRESS_H_
#define LLMSERVE_CLIENT_BENCH_PROGRESS_H_

#include <cstdio>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace llmserve::bench {

/// A snapshot of a run's progress.
struct ProgressSnapshot {
  int finished = 0;        ///< calls finished
  int total = 0;           ///< calls planned (0: unknown, e.g. --duration)
  double elapsed_seconds = 0;
  long long output_tokens = 0;
};

/// One line, e.g. "[#####.....]  50/100 requests  3.2 s  15.6 req/s  1234 tok/s".
std::string FormatProgress(const ProgressSnapshot& s, int bar_width = 30);

/// A live progress line redrawn on `out` every 200 ms from a background
/// thread, only when `out` is a terminal (quiet otherwise, e.g. in CI logs).
class ProgressBar {
 public:
  ProgressBar(FILE* out, std::function<ProgressSnapshot()> poll);
  /// Stops the thread and clears the line.
  ~ProgressBar();
  bool enabled() const { return enabled_; }

 private:
  FILE* out_;
  std::function<ProgressSnapshot()> poll_;
  bool enabled_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_PROGRESS_H_
