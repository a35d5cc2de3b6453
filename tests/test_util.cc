#include "tests/test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <vector>

namespace llmserve::testing {

std::string SharedDir() {
  if (const char* env = std::getenv("LLMSERVE_SHARED_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::string(LLMSERVE_SOURCE_DIR) + "/../shared";
}

std::string SharedPath(const std::string& relative) { return SharedDir() + "/" + relative; }

std::string SourcePath(const std::string& relative) {
  return std::string(LLMSERVE_SOURCE_DIR) + "/" + relative;
}

int ThreadsOfThisProcess() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

nlohmann::json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot open " << path;
    return nullptr;
  }
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot parse " << path << ": " << e.what();
    return nullptr;
  }
}

namespace {

/// The directories MakeTempDir made in this process; removed at exit by the
/// process that made them (a forked child that calls exit() keeps them).
class TempDirRegistry {
 public:
  void Add(const std::filesystem::path& dir) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back(dir);
  }
  ~TempDirRegistry() {
    if (::getpid() != owner_) return;
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& dir : dirs_) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }

 private:
  const pid_t owner_ = ::getpid();
  std::mutex mu_;
  std::vector<std::filesystem::path> dirs_;
};

TempDirRegistry& Registry() {
  static TempDirRegistry registry;
  return registry;
}

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  std::random_device rd;
  const auto base = std::filesystem::temp_directory_path();
  TempDirRegistry& registry = Registry();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto dir = base / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    if (std::filesystem::create_directories(dir)) {
      registry.Add(dir);
      return dir.string();
    }
  }
  ADD_FAILURE() << "cannot create a temp dir";
  return base.string();
}

bool WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string BuildPath(const std::string& relative) {
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / relative).string();
}

CommandResult RunCommand(const std::string& command) {
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

CommandResult RunBounded(const std::string& command, int timeout_seconds) {
  return RunCommand("timeout " + std::to_string(timeout_seconds) + " " + command);
}

}  // namespace llmserve::testing
