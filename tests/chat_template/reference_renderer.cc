#include "tests/chat_template/reference_renderer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/test_util.h"

namespace llmserve::testing {

nlohmann::ordered_json RenderWithPythonJinja2(const nlohmann::ordered_json& cases) {
  const std::string dir = MakeTempDir("chat-reference");
  const std::string cases_path = dir + "/cases.json";
  if (!WriteFile(cases_path, cases.dump())) {
    ADD_FAILURE() << "cannot write " << cases_path;
    return nullptr;
  }
  const CommandResult python = RunBounded(
      "/usr/bin/python3 " + SourcePath("tests/chat_templates/render_reference.py") + " " + cases_path,
      120);
  // Removed at once, not only at exit: a test process killed later leaves nothing.
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  if (python.exit_code != 0) {
    ADD_FAILURE() << "render_reference.py exited with " << python.exit_code
                  << " (is python3-jinja2 installed? scripts/install-deps.sh)";
    return nullptr;
  }
  nlohmann::ordered_json results = nlohmann::ordered_json::parse(python.out, nullptr, false);
  if (results.is_discarded() || !results.is_array() || results.size() != cases.size()) {
    ADD_FAILURE() << "render_reference.py gave unexpected output: " << python.out.substr(0, 400);
    return nullptr;
  }
  return results;
}

}  // namespace llmserve::testing
