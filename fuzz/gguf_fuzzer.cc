// libFuzzer target: arbitrary bytes as a GGUF file. Parsing must return a
// status, never crash, read out of bounds or allocate beyond what the input
// could describe (ASan/UBSan builds check); every tensor a successful parse
// hands out must lie inside the input; the model reader (architecture,
// hyper-parameters, tensor shapes, tokenizer) must fail cleanly too.
// Seeds (fuzz/corpus/gguf_fuzzer/): a 1-layer llama and a 1-layer gpt2 file
// (hidden 8, f32, with their tokenizers), which load as models, so mutations
// start from every section of a real file.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/loaders/gguf.h"
#include "engine/loaders/gguf_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  // An owned copy, so tensor views have an owner like a mapping would be.
  auto bytes = std::make_shared<std::vector<uint8_t>>(data, data + size);
  const uint8_t* begin = bytes->data();
  absl::StatusOr<llmserve::GgufFile> file =
      llmserve::GgufFile::Parse(bytes, begin, bytes->size(), "fuzz.gguf");
  if (!file.ok()) return 0;
  for (const llmserve::GgufTensorInfo& info : file->tensors()) {
    absl::StatusOr<llmserve::HostTensor> t = file->GetTensor(info.name);
    if (!t.ok()) __builtin_trap();
    if (t->num_bytes() != info.num_bytes) __builtin_trap();
    const auto* p = static_cast<const uint8_t*>(t->data);
    if (p < begin || p + t->num_bytes() > begin + bytes->size()) __builtin_trap();
    // Touch every byte through dequantization (ASan flags any out-of-bounds read);
    // bounded so that a large tensor in a small input cannot time out.
    if (t->num_elements() > (1 << 16)) continue;
    volatile float sink = 0.0f;
    for (float v : t->ToFloat()) sink = sink + v;
    (void)sink;
  }
  (void)llmserve::GgufModelFromFile(*file);
  return 0;
}
