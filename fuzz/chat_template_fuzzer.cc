// libFuzzer target for the chat-template engine (engine/chat_template): the
// input is a template source. Compile must return OK or INVALID_ARGUMENT, and
// a compiled template must render a fixed conversation to OK or
// INVALID_ARGUMENT within small bounds (RenderLimits): no crash, hang, leak
// or stack overflow on any input.
//
// Build and run (clang only):
//   cmake -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DLLMSERVE_FUZZ=ON \
//     -DLLMSERVE_SANITIZE=address,undefined -DLLMSERVE_BUILD_TESTS=OFF
//   cmake --build build-fuzz --target chat_template_fuzzer
//   ./build-fuzz/fuzz/chat_template_fuzzer -max_total_time=30 fuzz/corpus/chat_template_fuzzer

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "engine/chat_template/jinja_template.h"

namespace {

using llmserve::chat_template::Dict;
using llmserve::chat_template::JinjaTemplate;
using llmserve::chat_template::List;
using llmserve::chat_template::RenderLimits;
using llmserve::chat_template::Value;

Dict Variables() {
  List messages;
  const char* turns[][2] = {{"system", "Be brief."}, {"user", "Hi {{ x }}"}, {"assistant", "Hello"},
                            {"user", "Bye"}};
  for (const auto& turn : turns) {
    Dict m;
    m.Set("role", Value::String(turn[0]));
    m.Set("content", Value::String(turn[1]));
    messages.push_back(Value::MakeDict(std::move(m)));
  }
  Dict vars;
  vars.Set("messages", Value::MakeList(std::move(messages)));
  vars.Set("add_generation_prompt", Value::Bool(true));
  vars.Set("bos_token", Value::String("<s>"));
  vars.Set("eos_token", Value::String("</s>"));
  vars.Set("tools", Value::None());
  return vars;
}

void Check(const absl::Status& s) {
  if (!s.ok() && s.code() != absl::StatusCode::kInvalidArgument) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::unique_ptr<JinjaTemplate>> t = JinjaTemplate::Parse(source);
  Check(t.status());
  if (!t.ok()) return 0;
  RenderLimits limits;
  limits.max_steps = 20000;
  limits.max_bytes = 1 << 16;
  limits.max_call_depth = 16;
  static const Dict vars = Variables();
  absl::StatusOr<std::string> out = (*t)->Render(vars, 0, limits);
  Check(out.status());
  return 0;
}
