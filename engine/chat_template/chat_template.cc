#include "engine/chat_template/chat_template.h"

#include <ctime>

#include "engine/chat_template/jinja_template.h"
#include "engine/common/status_macros.h"

namespace llmserve {
namespace {

using chat_template::Dict;
using chat_template::JinjaTemplate;
using chat_template::List;
using chat_template::Value;

class JinjaChatTemplate final : public ChatTemplate {
 public:
  explicit JinjaChatTemplate(std::unique_ptr<JinjaTemplate> jinja) : jinja_(std::move(jinja)) {}

  absl::StatusOr<std::string> Render(const std::vector<ChatMessage>& messages,
                                     bool add_generation_prompt, std::string_view bos_token,
                                     std::string_view eos_token) const override {
    List list;
    list.reserve(messages.size());
    for (const ChatMessage& m : messages) {
      Dict d;
      d.Set("role", Value::String(m.role));
      d.Set("content", Value::String(m.content));
      list.push_back(Value::MakeDict(std::move(d)));
    }
    Dict variables;
    variables.Set("messages", Value::MakeList(std::move(list)));
    variables.Set("add_generation_prompt", Value::Bool(add_generation_prompt));
    variables.Set("bos_token", Value::String(std::string(bos_token)));
    variables.Set("eos_token", Value::String(std::string(eos_token)));
    // apply_chat_template passes these too (None without tools or RAG documents).
    variables.Set("tools", Value::None());
    variables.Set("documents", Value::None());
    return jinja_->Render(variables, std::time(nullptr));
  }

 private:
  std::unique_ptr<JinjaTemplate> jinja_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Compile(std::string_view source) {
  LLMSERVE_ASSIGN_OR_RETURN(std::unique_ptr<JinjaTemplate> jinja, JinjaTemplate::Parse(source));
  return std::unique_ptr<ChatTemplate>(new JinjaChatTemplate(std::move(jinja)));
}

}  // namespace llmserve
