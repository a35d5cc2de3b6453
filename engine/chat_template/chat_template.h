#ifndef LLMSERVE_ENGINE_CHAT_TEMPLATE_CHAT_TEMPLATE_H_
#define LLMSERVE_ENGINE_CHAT_TEMPLATE_CHAT_TEMPLATE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace llmserve {

/// One message of a chat (OpenAI chat completions `messages[i]`).
struct ChatMessage {
  /// "system", "user", "assistant" or "tool" (passed to the template as is).
  std::string role;
  /// The message text (UTF-8).
  std::string content;
};

/// A model's chat template: the Jinja source a checkpoint ships
/// (`chat_template` in Hugging Face tokenizer_config.json,
/// `tokenizer.chat_template` in GGUF), compiled once and rendered per request
/// with the variables Hugging Face's `apply_chat_template` passes: `messages`
/// (a list of {role, content} mappings), `add_generation_prompt`, `bos_token`,
/// `eos_token`, `tools` and `documents` (None), and the globals
/// `raise_exception(msg)` and `strftime_now(format)`. The subset of Jinja2
/// (https://jinja.palletsprojects.com/en/3.1.x/templates/) that published
/// templates use is implemented (docs/chat-templates.md); an unsupported tag,
/// filter or test is an error at Compile. Every render is bounded in steps,
/// bytes and depth (engine/chat_template/evaluator.h, RenderLimits).
/// Thread-safe for concurrent const use.
class ChatTemplate {
 public:
  virtual ~ChatTemplate() = default;

  /// Parses `source`. Errors: INVALID_ARGUMENT naming the line and the
  /// construct that is malformed or not supported.
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> Compile(std::string_view source);

  /// Renders the prompt text for `messages`. Errors: INVALID_ARGUMENT with the
  /// template's own message when it calls raise_exception (e.g. "Conversation
  /// roles must alternate user/assistant/user/assistant/..."), or naming what
  /// failed at render time (an undefined filter, a type error).
  virtual absl::StatusOr<std::string> Render(const std::vector<ChatMessage>& messages,
                                             bool add_generation_prompt,
                                             std::string_view bos_token,
                                             std::string_view eos_token) const = 0;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_CHAT_TEMPLATE_CHAT_TEMPLATE_H_
