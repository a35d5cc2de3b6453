#ifndef LLMSERVE_TESTS_TEST_UTIL_H_
#define LLMSERVE_TESTS_TEST_UTIL_H_

#include <string>

#include "nlohmann/json.hpp"

namespace llmserve::testing {

/// Root of the shared real data: $LLMSERVE_SHARED_DIR, else <repo>/../shared.
std::string SharedDir();

/// SharedDir() + "/" + relative.
std::string SharedPath(const std::string& relative);

/// Parses a JSON file (fails the current test via ADD_FAILURE and returns null on error).
nlohmann::json ReadJsonFile(const std::string& path);

/// A fresh empty directory under the test temp dir (removed by the OS/ctest later).
std::string MakeTempDir(const std::string& prefix);

/// Writes `bytes` to `path` (overwriting). Returns false on failure.
bool WriteFile(const std::string& path, const std::string& bytes);

/// Reads a whole file; empty string if unreadable.
std::string ReadFile(const std::string& path);

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_TEST_UTIL_H_
