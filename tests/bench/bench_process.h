#ifndef LLMSERVE_TESTS_BENCH_BENCH_PROCESS_H_
#define LLMSERVE_TESTS_BENCH_BENCH_PROCESS_H_

// Running the llmserve binary of this build tree from tests (BuildPath and
// RunBounded, for llmserve-bench, come from tests/test_util.h).

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/test_util.h"

namespace llmserve::testing {

/// The llmserve binary serving a model on 127.0.0.1 (free ports for gRPC and
/// metrics), started by Start and stopped (SIGTERM, then SIGKILL after 30 s)
/// by the destructor.
class ServerProcess {
 public:
  /// Starts `<build>/server/llmserve --listen 127.0.0.1:0
  /// --metrics-address 127.0.0.1:0 <extra_args>` and waits (up to 120 s) for
  /// it to log its addresses. False (details in error()) if it did not.
  bool Start(const std::vector<std::string>& extra_args);
  ~ServerProcess();

  const std::string& address() const { return address_; }
  /// http://host:port/metrics
  const std::string& metrics_url() const { return metrics_url_; }
  /// Its stderr so far.
  std::string log() const;
  const std::string& error() const { return error_; }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::string address_;
  std::string metrics_url_;
  std::string error_;
};

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_BENCH_BENCH_PROCESS_H_
