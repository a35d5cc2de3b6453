// Chat-template cost per request: compiling a published template (once per
// model load) and rendering it (once per chat request) for conversations of
// 2 to 64 messages of ~200 bytes. Templates from tests/chat_templates/.
//   ./build/benchmarks/chat_template_bench
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/chat_template/chat_template.h"

namespace llmserve {
namespace {

std::string ReadTemplate(const std::string& name) {
  std::ifstream in(std::string(LLMSERVE_SOURCE_DIR) + "/tests/chat_templates/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<ChatMessage> Conversation(int n) {
  std::vector<ChatMessage> messages = {{"system", "You are a helpful assistant. Answer briefly."}};
  for (int i = 1; i < n; ++i) {
    messages.push_back({i % 2 == 1 ? "user" : "assistant",
                        std::string("Message ") + std::to_string(i) + ": " + std::string(190, 'x')});
  }
  return messages;
}

const char* kTemplates[] = {"llama-3.1-8b-instruct.jinja", "qwen2.5-7b-instruct.jinja",
                            "mistral-nemo-instruct-2407.jinja"};

void BM_Compile(benchmark::State& state) {
  const std::string source = ReadTemplate(kTemplates[state.range(0)]);
  for (auto _ : state) {
    auto t = ChatTemplate::Compile(source);
    if (!t.ok()) state.SkipWithError("compile failed");
    benchmark::DoNotOptimize(t);
  }
  state.SetLabel(kTemplates[state.range(0)]);
}
BENCHMARK(BM_Compile)->DenseRange(0, 2);

void BM_Render(benchmark::State& state) {
  auto t = ChatTemplate::Compile(ReadTemplate(kTemplates[state.range(0)]));
  if (!t.ok()) {
    state.SkipWithError("compile failed");
    return;
  }
  const std::vector<ChatMessage> messages = Conversation(static_cast<int>(state.range(1)));
  size_t bytes = 0;
  for (auto _ : state) {
    auto out = (*t)->Render(messages, true, "<s>", "</s>");
    if (!out.ok()) state.SkipWithError("render failed");
    bytes = out->size();
    benchmark::DoNotOptimize(out);
  }
  state.SetLabel(std::string(kTemplates[state.range(0)]) + ", " + std::to_string(bytes) + " bytes out");
}
BENCHMARK(BM_Render)->ArgsProduct({{0, 1, 2}, {2, 16, 64}});

}  // namespace
}  // namespace llmserve
