#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_EVALUATOR_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_EVALUATOR_H_

#include <cstdint>
#include <ctime>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/chat_template/ast.h"
#include "engine/chat_template/value.h"

namespace llmserve::chat_template {

/// Bounds on one render, so a hostile template cannot hang or exhaust memory.
struct RenderLimits {
  /// Statements, expressions and loop iterations evaluated.
  int64_t max_steps = 2'000'000;
  /// Bytes of output, and of any one string or list built on the way.
  size_t max_bytes = 8u << 20;
  /// Nested macro calls.
  int max_call_depth = 64;
  /// Nested statement and expression evaluations (the evaluator's recursion,
  /// about 0.5-1 KiB of stack each in a release build, whatever macros and
  /// nesting combine).
  int max_depth = 500;
};

/// Checks names Jinja2 resolves when it compiles: every filter and test the
/// template uses exists. Errors: INVALID_ARGUMENT "chat template line N: no
/// filter named 'x'" / "no test named 'x'".
absl::Status CheckNames(const NodeList& nodes);

/// The global functions Hugging Face's apply_chat_template gives a template:
/// raise_exception(msg) (fails the render with INVALID_ARGUMENT carrying msg
/// verbatim) and strftime_now(format) (the local time `now` formatted with
/// strftime), plus Jinja's namespace(...), range(...) and dict(...).
Dict StandardGlobals(std::time_t now);

/// Renders `nodes` with the variables `globals`. Jinja2 semantics: Undefined
/// for unknown names (falsy, prints as ""; attribute access on it fails);
/// `for` and macro bodies have their own scope, `if` does not; `set` writes
/// the innermost scope, `set ns.attr` a namespace. Errors: INVALID_ARGUMENT
/// with raise_exception's message verbatim, or "chat template line N: ..."
/// naming what failed (undefined value, type error, a limit exceeded).
absl::StatusOr<std::string> RenderNodes(const NodeList& nodes, const Dict& globals,
                                        const RenderLimits& limits);

}  // namespace llmserve::chat_template

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_EVALUATOR_H_
