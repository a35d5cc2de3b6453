#ifndef LLMSERVE_TESTS_SERVER_CLIENT_RUNNER_H_
#define LLMSERVE_TESTS_SERVER_CLIENT_RUNNER_H_

// Runs the llmserve-client binary from tests. Header-only.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace llmserve::testing {

/// The llmserve-client binary of this build tree (<build>/client/), found from
/// the test executable's location (<build>/tests/).
inline std::string ClientBinary() {
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / "client" / "llmserve-client").string();
}

/// The outcome of a shell command.
struct CommandResult {
  int exit_code = -1;  ///< the exit status, or -1 if it did not exit normally
  std::string out;     ///< everything it wrote to stdout
};

/// Runs `command` with /bin/sh, capturing stdout.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.out.append(buffer.data(), n);
  const int status = pclose(pipe);
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_SERVER_CLIENT_RUNNER_H_
