#include "tests/test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace llmserve::testing {

std::string SharedDir() {
  if (const char* env = std::getenv("LLMSERVE_SHARED_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::string(LLMSERVE_SOURCE_DIR) + "/../shared";
}

std::string SharedPath(const std::string& relative) { return SharedDir() + "/" + relative; }

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

std::string MakeTempDir(const std::string& prefix) {
  std::random_device rd;
  const auto base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto dir = base / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    if (std::filesystem::create_directories(dir)) return dir.string();
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

}  // namespace llmserve::testing
