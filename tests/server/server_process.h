#ifndef LLMSERVE_TESTS_SERVER_SERVER_PROCESS_H_
#define LLMSERVE_TESTS_SERVER_SERVER_PROCESS_H_

// The llmserve binary of this build tree as a child process, for tests:
// started with arguments, stdout and stderr to a log file, its address read
// from the "serving on" line, its exit awaited with a bound (killed when the
// bound passes). Header-only.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/test_util.h"

namespace llmserve::testing {

/// How a child process ended.
struct ProcessExit {
  bool exited = false;     ///< exited normally (else killed by a signal)
  int code = -1;           ///< exit code when exited
  int signal = 0;          ///< the signal when not exited
  bool timed_out = false;  ///< it had to be killed by WaitForExit
  std::string Describe() const {
    if (timed_out) return "did not exit in time (killed)";
    return exited ? "exit code " + std::to_string(code)
                  : "killed by signal " + std::to_string(signal);
  }
};

/// One run of build/server/llmserve.
class ServerProcess {
 public:
  /// The binary's path in this build tree.
  static std::string Binary() { return BuildPath("server/llmserve"); }

  /// Starts the binary with `args`, its output to `log_path`. False if fork failed.
  bool Start(const std::vector<std::string>& args, const std::string& log_path) {
    log_path_ = log_path;
    const std::string binary = Binary();
    std::vector<std::string> argv_storage = {binary};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    return true;
  }

  /// Waits (bounded) for the "serving on ADDRESS" line; the address, or
  /// nullopt if the process exited or the bound passed first.
  std::optional<std::string> WaitForAddress(absl::Duration timeout = absl::Seconds(120)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      const std::string log = ReadFile(log_path_);
      const size_t at = log.find("serving on ");
      if (at != std::string::npos) {
        const size_t end = log.find_first_of(" \n", at + 11);
        if (end != std::string::npos) return log.substr(at + 11, end - (at + 11));
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_ = ToExit(status);
        return std::nullopt;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return std::nullopt;
  }

  bool Signal(int sig) { return pid_ > 0 && !exit_.has_value() && kill(pid_, sig) == 0; }

  /// Waits up to `timeout` for the process to end; SIGKILLs it after that.
  ProcessExit WaitForExit(absl::Duration timeout) {
    if (exit_.has_value()) return *exit_;
    const absl::Time deadline = absl::Now() + timeout;
    int status = 0;
    while (absl::Now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_ = ToExit(status);
        return *exit_;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    exit_ = ToExit(status);
    exit_->timed_out = true;
    return *exit_;
  }

  std::string Log() const { return ReadFile(log_path_); }

  /// Kills a process still running (a failed test must not leave it behind).
  ~ServerProcess() {
    if (pid_ > 0 && !exit_.has_value()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

 private:
  static ProcessExit ToExit(int status) {
    ProcessExit e;
    e.exited = WIFEXITED(status);
    if (e.exited) e.code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
    return e;
  }

  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<ProcessExit> exit_;
};

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_SERVER_SERVER_PROCESS_H_
