// GGUF files made by llama.cpp's own tools (../shared/models/*-gguf), each
// served by the real server from `--model file.gguf` alone (tokenizer from the
// file's metadata), checked through the generated stub against
// ../shared/reference/*-gguf.json:
//  * teacher-forced log-probabilities (prompt_logprobs) of llama.cpp's greedy
//    ids within 0.01 of the float64 reference for F32/F16, within 0.15 for the
//    quantized types (llama.cpp itself is 0.06-0.14 away: it quantizes
//    activations; llmserve dequantizes the weights and keeps activations f32).
//    gpt2-tiny-random-gguf.json has llama.cpp's log-probabilities only: there
//    the bound is against llama.cpp's (0.02 F16, 0.15 Q8_0), and the F16 file
//    is checked against the float64 logits of gpt2-tiny-random.json instead
//    (top-5 ids and logit differences within 0.01 at every prompt position);
//  * F32/F16: free-running greedy ids equal llama.cpp's;
//  * quantized: the greedy agreement is printed, and every teacher-forced
//    position where llmserve's argmax differs from llama.cpp's id must be a
//    near-tie: llmserve's top log-probability exceeds that of llama.cpp's id
//    by at most 0.3 nats (twice the 0.15 tolerance, i.e. within what the two
//    implementations' distance from the float64 reference allows), while
//    that id's own log-probability is within 0.15 of the float64 value;
//  * Tokenize with the file's vocabulary: the llama2.c tokenizer's ids of the
//    golden prompts (stories260K-greedy.json), GPT-2's test vectors;
//  * GetModelInfo: architecture and shapes from the metadata.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/llm_engine.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/server_app.h"
#include "tests/server/stub_calls.h"
#include "tests/test_util.h"
#include "tests/tokenizer/ggml_vocab_cases.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::SharedPath;
using ::testing::Contains;
using ::testing::ElementsAreArray;
using ::testing::StartsWith;

struct GgufCase {
  const char* reference;  // reference/<name>.json
  const char* folder;     // models/<folder>/
  const char* type;       // key of files.<type> in the reference
  bool quantized;
};

std::string Describe(const GgufCase& c) { return std::string(c.folder) + "/" + c.type; }
void PrintTo(const GgufCase& c, std::ostream* os) { *os << Describe(c); }

// A started server on one GGUF file and a stub to it.
struct Served {
  std::unique_ptr<ServerApp> app;
  std::unique_ptr<v1::Generation::Stub> stub;
};

Served Serve(const std::string& path) {
  Served s;
  EngineOptions options;
  options.model_path = path;
  options.num_threads = 2;
  auto engine = LLMEngine::Create(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return s;
  ServerOptions server_options;
  server_options.listen_address = "127.0.0.1:0";
  server_options.metrics_address = "";
  auto app = ServerApp::Start(*std::move(engine), server_options);
  EXPECT_TRUE(app.ok()) << app.status();
  if (!app.ok()) return s;
  s.app = *std::move(app);
  s.stub = v1::Generation::NewStub(
      grpc::CreateChannel(s.app->address(), grpc::InsecureChannelCredentials()));
  return s;
}

class GgufServerTest : public ::testing::TestWithParam<GgufCase> {};

TEST_P(GgufServerTest, LogprobsAndGreedyIdsMatchLlamaCppAndTheFloat64Reference) {
  const GgufCase& param = GetParam();
  const nlohmann::json ref =
      llmserve::testing::ReadJsonFile(SharedPath(std::string("reference/") + param.reference));
  ASSERT_TRUE(ref.contains("files") && ref["files"].contains(param.type));
  const nlohmann::json& file = ref["files"][param.type];
  const std::string path =
      SharedPath(std::string("models/") + param.folder + "/" + file["file"].get<std::string>());
  Served served = Serve(path);
  ASSERT_NE(served.stub, nullptr);
  const double tolerance = param.quantized ? 0.15 : 0.01;
  constexpr double kNearTie = 0.3;
  // Against llama.cpp's own log-probabilities (GPT-2 files): its distance from
  // float64 (0.06-0.14 quantized, README of ../shared) plus ours.
  const double kLlamaCppTolerance = param.quantized ? 0.15 : 0.02;
  const bool vs_reference = file["cases"][0].contains("reference_logprobs");

  double max_delta = 0.0, max_gap = 0.0;
  int agree = 0, positions = 0, free_agree = 0, free_positions = 0;
  for (const auto& c : file["cases"]) {
    const auto prompt = c["prompt_token_ids"].get<std::vector<uint32_t>>();
    const auto greedy = c["llamacpp_greedy_ids"].get<std::vector<uint32_t>>();
    // The float64 values where the reference has them (llama files); the
    // GPT-2 reference holds llama.cpp's only (see Gpt2F16MatchesTheFloat64Logits).
    const bool has_reference = c.contains("reference_logprobs");
    const auto want_logprobs =
        c[has_reference ? "reference_logprobs" : "llamacpp_logprobs"].get<std::vector<double>>();
    ASSERT_EQ(greedy.size(), want_logprobs.size());
    SCOPED_TRACE(::testing::PrintToString(prompt));

    // Teacher forcing: prompt + llama.cpp's ids as one prompt; entry i of
    // prompt_logprobs is the log-probability of token i + 1.
    std::vector<uint32_t> forced = prompt;
    forced.insert(forced.end(), greedy.begin(), greedy.end());
    v1::GenerateRequest request;
    request.mutable_token_ids()->mutable_ids()->Add(forced.begin(), forced.end());
    request.mutable_sampling_params()->set_temperature(0.0f);
    request.mutable_sampling_params()->set_max_tokens(1);
    request.mutable_sampling_params()->set_prompt_logprobs(1);
    v1::GenerateResponse response;
    const grpc::Status status = llmserve::testing::CallGenerate(*served.stub, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.prompt_logprobs_size(), static_cast<int>(forced.size()) - 1);
    for (std::size_t j = 0; j < greedy.size(); ++j) {
      const v1::PositionLogprobs& p = response.prompt_logprobs(static_cast<int>(prompt.size() + j - 1));
      ASSERT_EQ(p.token().token_id(), greedy[j]);
      const double delta = std::abs(p.token().logprob() - want_logprobs[j]);
      max_delta = std::max(max_delta, delta);
      EXPECT_LE(delta, has_reference ? tolerance : kLlamaCppTolerance)
          << "position " << j << " id " << greedy[j];
      ASSERT_GE(p.top_size(), 1);
      ++positions;
      if (p.top(0).token_id() == greedy[j]) {
        ++agree;
      } else {
        EXPECT_TRUE(param.quantized) << "position " << j << ": llmserve's argmax "
                                     << p.top(0).token_id() << ", llama.cpp's " << greedy[j];
        const double gap = p.top(0).logprob() - p.token().logprob();
        max_gap = std::max(max_gap, gap);
        EXPECT_LE(gap, kNearTie) << "position " << j << ": not a near-tie: llmserve's "
                                 << p.top(0).token_id() << " at " << p.top(0).logprob()
                                 << ", llama.cpp's " << greedy[j] << " at " << p.token().logprob();
      }
    }

    // Free-running greedy decode.
    v1::GenerateRequest free;
    free.mutable_token_ids()->mutable_ids()->Add(prompt.begin(), prompt.end());
    free.mutable_sampling_params()->set_temperature(0.0f);
    free.mutable_sampling_params()->set_max_tokens(static_cast<int>(greedy.size()));
    free.mutable_sampling_params()->set_ignore_eos(true);
    v1::GenerateResponse free_response;
    ASSERT_TRUE(llmserve::testing::CallGenerate(*served.stub, free, &free_response).ok());
    const std::vector<uint32_t> got(free_response.token_ids().begin(), free_response.token_ids().end());
    if (!param.quantized) EXPECT_THAT(got, ElementsAreArray(greedy));
    std::size_t same = 0;
    while (same < got.size() && same < greedy.size() && got[same] == greedy[same]) ++same;
    free_agree += static_cast<int>(same);
    free_positions += static_cast<int>(greedy.size());
  }
  std::printf("[ gguf     ] %s: max |dlogprob| vs %s %.2e (tolerance %.2f), teacher-forced "
              "argmax = llama.cpp's id at %d/%d positions (largest gap where not: %.3f nats), free greedy "
              "common prefix %d/%d tokens\n",
              Describe(param).c_str(), vs_reference ? "float64" : "llama.cpp", max_delta,
              vs_reference ? tolerance : kLlamaCppTolerance, agree, positions, max_gap, free_agree,
              free_positions);
}

INSTANTIATE_TEST_SUITE_P(
    SharedFiles, GgufServerTest,
    ::testing::Values(GgufCase{"stories260K-gguf.json", "stories260K-gguf", "f32", false},
                      GgufCase{"stories260K-gguf.json", "stories260K-gguf", "q8_0", true},
                      GgufCase{"stories260K-gguf.json", "stories260K-gguf", "q4_0", true},
                      GgufCase{"random-llama-256-gguf.json", "random-llama-256-gguf", "f32", false},
                      GgufCase{"random-llama-256-gguf.json", "random-llama-256-gguf", "q8_0", true},
                      GgufCase{"random-llama-256-gguf.json", "random-llama-256-gguf", "q4_0", true},
                      GgufCase{"random-llama-256-gguf.json", "random-llama-256-gguf", "q4_k_m", true},
                      GgufCase{"random-llama-256-gguf.json", "random-llama-256-gguf", "q6_k", true},
                      GgufCase{"gpt2-tiny-random-gguf.json", "gpt2-tiny-random-gguf", "f16", false},
                      GgufCase{"gpt2-tiny-random-gguf.json", "gpt2-tiny-random-gguf", "q8_0", true}),
    [](const ::testing::TestParamInfo<GgufCase>& info) {
      std::string name = std::string(info.param.folder) + "_" + info.param.type;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

// The F16 GPT-2 file holds gpt2-tiny-random's weights: at every prompt
// position the top-5 ids and their logit differences (log-probability
// differences are logit differences) match the float64 reference of
// reference/gpt2-tiny-random.json.
TEST(GgufServerGpt2Test, Gpt2F16MatchesTheFloat64Logits) {
  Served served = Serve(SharedPath("models/gpt2-tiny-random-gguf/gpt2-tiny-random-f16.gguf"));
  ASSERT_NE(served.stub, nullptr);
  const nlohmann::json ref = llmserve::testing::ReadJsonFile(SharedPath("reference/gpt2-tiny-random.json"));
  ASSERT_TRUE(ref.contains("cases"));
  double max_delta = 0.0;
  for (const auto& c : ref["cases"]) {
    const auto prompt = c["prompt_token_ids"].get<std::vector<uint32_t>>();
    SCOPED_TRACE(::testing::PrintToString(prompt));
    // One more token so that the last prompt position has an entry too.
    std::vector<uint32_t> forced = prompt;
    forced.push_back(c["greedy_completion_token_ids"][0].get<uint32_t>());
    v1::GenerateRequest request;
    request.mutable_token_ids()->mutable_ids()->Add(forced.begin(), forced.end());
    request.mutable_sampling_params()->set_temperature(0.0f);
    request.mutable_sampling_params()->set_max_tokens(1);
    request.mutable_sampling_params()->set_prompt_logprobs(5);
    v1::GenerateResponse response;
    ASSERT_TRUE(llmserve::testing::CallGenerate(*served.stub, request, &response).ok());
    ASSERT_EQ(response.prompt_logprobs_size(), static_cast<int>(prompt.size()));
    for (const auto& pos : c["prompt_logits_top5"]) {
      const int position = pos["position"];
      const auto ids = pos["top5_ids"].get<std::vector<uint32_t>>();
      const auto logits = pos["top5_logits"].get<std::vector<double>>();
      const v1::PositionLogprobs& p = response.prompt_logprobs(position);
      ASSERT_EQ(p.top_size(), 5);
      for (int k = 0; k < 5; ++k) {
        EXPECT_EQ(p.top(k).token_id(), ids[k]) << "position " << position << " rank " << k;
        const double delta = std::abs((p.top(k).logprob() - p.top(0).logprob()) - (logits[k] - logits[0]));
        max_delta = std::max(max_delta, delta);
        EXPECT_LE(delta, 0.01) << "position " << position << " rank " << k;
      }
    }
  }
  std::printf("[ gguf     ] gpt2-tiny-random-gguf/f16: max |d(logit_k - logit_0)| vs float64 %.2e\n",
              max_delta);
}

TEST(GgufServerTokenizeTest, LlamaVocabularyFromTheFileMatchesLlama2c) {
  Served served = Serve(SharedPath("models/stories260K-gguf/stories260K-q8_0.gguf"));
  ASSERT_NE(served.stub, nullptr);
  const nlohmann::json ref = llmserve::testing::ReadJsonFile(SharedPath("reference/stories260K-greedy.json"));
  ASSERT_TRUE(ref.contains("cases"));
  for (const auto& c : ref["cases"]) {
    const std::string text = c["prompt"];
    SCOPED_TRACE(text);
    grpc::ClientContext context;
    v1::TokenizeRequest request;
    request.set_text(text);
    v1::TokenizeResponse tokens;
    ASSERT_TRUE(served.stub->Tokenize(&context, request, &tokens).ok());
    EXPECT_THAT(tokens.token_ids(),
                ElementsAreArray(c["prompt_token_ids"].get<std::vector<uint32_t>>()));
  }

  grpc::ClientContext context;
  v1::ModelInfo info;
  ASSERT_TRUE(served.stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.architecture(), "llama");
  EXPECT_EQ(info.vocab_size(), 512u);
  EXPECT_EQ(info.num_layers(), 5u);
  EXPECT_EQ(info.num_kv_heads(), 4u);
  EXPECT_EQ(info.bos_token_id(), 1);
  EXPECT_EQ(info.chat_template(), "");  // these files have none
  // Every layer kind's weight type and kernel, as --print-kernels names them:
  // this file's linear layers are all Q8_0, run by a q8_0 kernel.
  ASSERT_GE(info.kernels_size(), 6);
  for (const char* layer : {"qkv [64 -> 128]", "attn_out [64 -> 64]", "gate_up [64 -> 384]",
                            "mlp_down [192 -> 64]", "lm_head [64 -> 512]"}) {
    SCOPED_TRACE(layer);
    EXPECT_THAT(info.kernels(), Contains(StartsWith(absl::StrCat(layer, " q8_0: q8xq8_0:"))));
  }
  EXPECT_THAT(info.kernels(), Contains(StartsWith("attention: paged")));
}

// tokenizer.chat_template reaches GetModelInfo: a copy of a shared file with
// the key inserted before its first key/value (the inserted bytes are a
// multiple of the 32-byte alignment, so every tensor offset stays valid).
TEST(GgufServerModelInfoTest, ChatTemplateIsShownInModelInfo) {
  std::string bytes =
      llmserve::testing::ReadFile(SharedPath("models/stories260K-gguf/stories260K-f32.gguf"));
  ASSERT_GT(bytes.size(), 24u);
  const std::string key = "tokenizer.chat_template";
  std::string tmpl = "{% for m in messages %}{{ m.content }}{% endfor %}";
  // key length + key + type + string length + string, padded to 32 bytes.
  while ((8 + key.size() + 4 + 8 + tmpl.size()) % 32 != 0) tmpl += ' ';
  std::string kv;
  const auto put64 = [&](uint64_t v) { kv.append(reinterpret_cast<const char*>(&v), 8); };
  put64(key.size());
  kv += key;
  const uint32_t string_type = 8;
  kv.append(reinterpret_cast<const char*>(&string_type), 4);
  put64(tmpl.size());
  kv += tmpl;
  uint64_t kv_count;
  std::memcpy(&kv_count, bytes.data() + 16, 8);
  ++kv_count;
  std::memcpy(bytes.data() + 16, &kv_count, 8);
  bytes.insert(24, kv);
  const std::string dir = llmserve::testing::MakeTempDir("gguf_chat_template");
  const std::string path = dir + "/with-template.gguf";
  ASSERT_TRUE(llmserve::testing::WriteFile(path, bytes));
  {
    Served served = Serve(path);
    ASSERT_NE(served.stub, nullptr);
    grpc::ClientContext context;
    v1::ModelInfo info;
    ASSERT_TRUE(served.stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
    EXPECT_EQ(info.chat_template(), tmpl);
    EXPECT_EQ(info.model_name(), "with-template");
  }
  std::filesystem::remove_all(dir);
}

TEST(GgufServerTokenizeTest, Gpt2VocabularyFromTheFileMatchesTheTestVectors) {
  Served served = Serve(SharedPath("models/gpt2-tiny-random-gguf/gpt2-tiny-random-f16.gguf"));
  ASSERT_NE(served.stub, nullptr);
  const std::string dir = SharedPath("models/gpt2-tokenizer");
  const std::vector<std::string> inputs = testing::ReadGgmlVocabInputs(dir + "/ggml-vocab-gpt-2.gguf.inp");
  const std::vector<std::vector<int32_t>> outputs =
      testing::ReadGgmlVocabOutputs(dir + "/ggml-vocab-gpt-2.gguf.out");
  ASSERT_EQ(inputs.size(), 46u);
  ASSERT_EQ(outputs.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    grpc::ClientContext context;
    v1::TokenizeRequest request;
    request.set_text(inputs[i]);
    request.set_add_bos(false);
    v1::TokenizeResponse tokens;
    ASSERT_TRUE(served.stub->Tokenize(&context, request, &tokens).ok());
    const std::vector<int32_t> got(tokens.token_ids().begin(), tokens.token_ids().end());
    EXPECT_EQ(got, outputs[i]) << "case " << i << ": " << inputs[i];
  }
}

}  // namespace
}  // namespace llmserve::server
