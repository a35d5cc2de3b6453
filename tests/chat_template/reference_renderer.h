#ifndef LLMSERVE_TESTS_CHAT_TEMPLATE_REFERENCE_RENDERER_H_
#define LLMSERVE_TESTS_CHAT_TEMPLATE_REFERENCE_RENDERER_H_

#include "nlohmann/json.hpp"

namespace llmserve::testing {

/// Renders `cases` (the input format of tests/chat_templates/render_reference.py)
/// with Debian's python3-jinja2 through that script, in one process. Returns
/// its results array, or null after ADD_FAILURE if the script failed (for
/// example python3-jinja2 is not installed).
nlohmann::ordered_json RenderWithPythonJinja2(const nlohmann::ordered_json& cases);

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_CHAT_TEMPLATE_REFERENCE_RENDERER_H_
