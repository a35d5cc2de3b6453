#ifndef LLMSERVE_TESTS_TEST_UTIL_H_
#define LLMSERVE_TESTS_TEST_UTIL_H_

#include <atomic>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace llmserve::testing {

/// Root of the shared real data: $LLMSERVE_SHARED_DIR, else <repo>/../shared.
std::string SharedDir();

/// SharedDir() + "/" + relative.
std::string SharedPath(const std::string& relative);

/// <source tree>/<relative>: data kept in the repository (e.g.
/// "tests/structured_schemas").
std::string SourcePath(const std::string& relative);

/// Threads of this process now (the entries of /proc/self/task).
int ThreadsOfThisProcess();

/// Parses a JSON file (fails the current test via ADD_FAILURE and returns null on error).
nlohmann::json ReadJsonFile(const std::string& path);

/// A fresh empty directory under the test temp dir ($TMPDIR or /tmp), named
/// "<prefix>-<pid>-<random>". It is removed with its contents when the test
/// program exits normally (by the process that made it, never by a forked
/// child), so a ctest run leaves nothing behind.
std::string MakeTempDir(const std::string& prefix);

/// Writes `bytes` to `path` (overwriting). Returns false on failure.
bool WriteFile(const std::string& path, const std::string& bytes);

/// Reads a whole file; empty string if unreadable.
std::string ReadFile(const std::string& path);

/// <build>/<relative> of this build tree (e.g. "client/llmserve-bench"),
/// found from the test executable's location (<build>/tests/<test>).
std::string BuildPath(const std::string& relative);

/// The outcome of a shell command.
struct CommandResult {
  int exit_code = -1;  ///< the exit status, or -1 if it did not exit normally
  std::string out;     ///< everything it wrote to stdout
};

/// Runs `command` with /bin/sh (popen), capturing stdout.
CommandResult RunCommand(const std::string& command);

/// RunCommand through `timeout <timeout_seconds>`: exit code 124 if it had to
/// be killed, so a hung binary fails the test instead of hanging it.
CommandResult RunBounded(const std::string& command, int timeout_seconds);

/// Calls fn(i) for every i < count on `parallel` threads, each taking the
/// next index (so a server sees up to `parallel` calls at once); returns when
/// all are done. fn writes its result to slot i of a caller's vector.
template <typename Fn>
void ForEachIndexInParallel(std::size_t count, int parallel, Fn fn) {
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < parallel; ++t) {
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < count; i = next++) fn(i);
    });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_TEST_UTIL_H_
