// libFuzzer target for the BPE tokenizers: arbitrary bytes go through the GPT-2
// byte-level encoder (real encoder.json + vocab.bpe) and the llama2.c encoder
// (stories260K's tok512.bin and the 32k Llama vocabulary), checking that
//  - encoding never fails and every id is inside the vocabulary;
//  - decode(encode(x)) == x: exactly, for any bytes (both tokenizers are
//    lossless, also on ill-formed UTF-8 via byte-level / byte-fallback tokens),
//    except GPT-2 text that spells the special token "<|endoftext|>";
//  - streaming the ids through IncrementalDetokenizer gives SanitizeUtf8(x),
//    valid UTF-8 piece by piece.
// The data is read once from $LLMSERVE_SHARED_DIR, default ../shared relative
// to the working directory.
//
// Build and run (clang only):
//   cmake -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DLLMSERVE_FUZZ=ON \
//     -DLLMSERVE_SANITIZE=address,undefined -DLLMSERVE_BUILD_TESTS=OFF
//   cmake --build build-fuzz --target bpe_fuzzer
//   ./build-fuzz/fuzz/bpe_fuzzer -max_total_time=30 -max_len=4096

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/gpt2_tokenizer.h"
#include "engine/tokenizer/incremental_detokenizer.h"
#include "engine/tokenizer/llama2c_tokenizer.h"
#include "engine/tokenizer/utf8.h"

namespace llmserve {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "bpe_fuzzer: %s\n", what.c_str());
  std::abort();
}

struct Tokenizers {
  std::unique_ptr<Gpt2Tokenizer> gpt2;
  std::vector<std::unique_ptr<Llama2cTokenizer>> llama2c;
};

const Tokenizers& Get() {
  static const Tokenizers* const tokenizers = [] {
    const char* env = std::getenv("LLMSERVE_SHARED_DIR");
    const std::string shared = env != nullptr && *env != '\0' ? env : "../shared";
    auto* t = new Tokenizers();
    const std::string gpt2_dir = shared + "/models/gpt2-tokenizer";
    auto gpt2 =
        Gpt2Tokenizer::LoadVocabAndMerges(gpt2_dir + "/encoder.json", gpt2_dir + "/vocab.bpe");
    if (!gpt2.ok()) Fail(std::string(gpt2.status().message()) + " (set LLMSERVE_SHARED_DIR)");
    t->gpt2 = *std::move(gpt2);
    for (const char* file :
         {"/models/stories260K/tok512.bin", "/models/llama2c-tokenizer32k/tokenizer.bin"}) {
      auto llama2c = Llama2cTokenizer::Load(shared + file);
      if (!llama2c.ok()) Fail(std::string(llama2c.status().message()));
      t->llama2c.push_back(*std::move(llama2c));
    }
    return t;
  }();
  return *tokenizers;
}

std::vector<int32_t> EncodeChecked(const Tokenizer& tok, std::string_view text, bool add_bos) {
  auto ids = tok.Encode(text, add_bos);
  if (!ids.ok()) Fail("Encode failed: " + std::string(ids.status().message()));
  for (int32_t id : *ids) {
    if (id < 0 || id >= tok.vocab_size()) Fail("id out of range: " + std::to_string(id));
  }
  return *std::move(ids);
}

void CheckStreaming(const Tokenizer& tok, const std::vector<int32_t>& ids,
                    std::string_view expected_bytes) {
  IncrementalDetokenizer detok(tok, -1);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string piece = detok.Push(id);
    if (!IsValidUtf8(piece)) Fail("Push returned ill-formed UTF-8");
    streamed += piece;
  }
  streamed += detok.Flush();
  if (streamed != SanitizeUtf8(expected_bytes)) Fail("streamed text != sanitized text");
}

}  // namespace
}  // namespace llmserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llmserve;
  const Tokenizers& t = Get();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const std::vector<int32_t> gpt2_ids = EncodeChecked(*t.gpt2, text, false);
  if (text.find("<|endoftext|>") == std::string_view::npos) {
    if (t.gpt2->Decode(gpt2_ids) != text) Fail("GPT-2 decode(encode(x)) != x");
    CheckStreaming(*t.gpt2, gpt2_ids, text);
  }

  for (const auto& llama2c : t.llama2c) {
    const std::vector<int32_t> ids = EncodeChecked(*llama2c, text, true);
    if (ids.empty() || ids[0] != llama2c->bos_id()) Fail("llama2.c: no BOS");
    if (llama2c->Decode(ids) != text) Fail("llama2.c decode(encode(x)) != x");
    CheckStreaming(*llama2c, ids, text);
  }
  return 0;
}
