#include "tests/bench/bench_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/test_util.h"

namespace llmserve::testing {

namespace {

/// The text after `marker` up to the next space or newline in `log`; empty if absent.
std::string After(const std::string& log, const std::string& marker) {
  const size_t at = log.find(marker);
  if (at == std::string::npos) return "";
  const size_t start = at + marker.size();
  const size_t end = log.find_first_of(" \n", start);
  return end == std::string::npos ? "" : log.substr(start, end - start);
}

}  // namespace

bool ServerProcess::Start(const std::vector<std::string>& extra_args) {
  const std::string binary = BuildPath("server/llmserve");
  log_path_ = MakeTempDir("llmserve_bench_server") + "/stderr.log";
  std::vector<std::string> args = {binary, "--listen", "127.0.0.1:0", "--metrics-address",
                                   "127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = fork();
  if (pid_ < 0) {
    error_ = "fork failed";
    return false;
  }
  if (pid_ == 0) {
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    dup2(fd, STDOUT_FILENO);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  for (int i = 0; i < 12000; ++i) {
    const std::string text = log();
    address_ = After(text, "serving on ");
    const std::string metrics = After(text, "metrics on ");
    if (!address_.empty() && !metrics.empty()) {
      metrics_url_ = metrics;
      return true;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = absl::StrCat("llmserve exited: ", text);
      return false;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  error_ = absl::StrCat("llmserve did not start: ", log());
  return false;
}

ServerProcess::~ServerProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 3000; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) return;
    absl::SleepFor(absl::Milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

std::string ServerProcess::log() const { return ReadFile(log_path_); }

}  // namespace llmserve::testing
