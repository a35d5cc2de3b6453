#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_JINJA_TEMPLATE_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_JINJA_TEMPLATE_H_

#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/chat_template/ast.h"
#include "engine/chat_template/evaluator.h"
#include "engine/chat_template/value.h"
#include "nlohmann/json.hpp"

namespace llmserve::chat_template {

/// A compiled template of the Jinja2 subset (lexer.h, parser.h, evaluator.h),
/// rendered with any variables. ChatTemplate is built on it; tests use it to
/// render with a fixed clock and their own variables. Thread-safe for
/// concurrent const use.
class JinjaTemplate {
 public:
  /// Parses `source` and checks its filter and test names. Errors:
  /// INVALID_ARGUMENT "chat template line N: ..." (see ParseTemplate).
  static absl::StatusOr<std::unique_ptr<JinjaTemplate>> Parse(std::string_view source);

  /// Renders with `variables` on top of StandardGlobals(now). Errors: see RenderNodes.
  absl::StatusOr<std::string> Render(const Dict& variables, std::time_t now,
                                     const RenderLimits& limits = RenderLimits()) const;

 private:
  explicit JinjaTemplate(NodeList nodes) : nodes_(std::move(nodes)) {}
  NodeList nodes_;
};

/// A JSON value as a template value (object keys in document order; integers
/// that fit int64 as int, other numbers as float; binary values as None).
Value ValueFromJson(const nlohmann::ordered_json& json);

}  // namespace llmserve::chat_template

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_JINJA_TEMPLATE_H_
