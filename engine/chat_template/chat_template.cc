#include "engine/chat_template/chat_template.h"

#include "absl/status/status.h"

namespace llmserve {

// Placeholder until the Jinja subset lands (issue #21, item 4).
absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Compile(std::string_view source) {
  (void)source;
  return absl::UnimplementedError("chat templates are not implemented yet");
}

}  // namespace llmserve
