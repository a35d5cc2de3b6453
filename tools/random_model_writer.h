#ifndef LLMSERVE_TOOLS_RANDOM_MODEL_WRITER_H_
#define LLMSERVE_TOOLS_RANDOM_MODEL_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/common/dtype.h"

namespace llmserve::tools {

/// Shape of a random-weight model. Speed does not depend on weight values, so
/// these stand in for real checkpoints of the same shape in benchmarks.
struct RandomModelShape {
  std::string arch = "llama";  ///< "llama" (llama2.c file) or "gpt2" (HF directory)
  int hidden = 768;
  int layers = 12;
  int heads = 12;
  int kv_heads = 12;   ///< llama only
  int ffn = 2048;      ///< llama: SwiGLU hidden size; gpt2: n_inner (default 4 × hidden)
  int vocab = 32000;
  int context = 1024;
  uint64_t seed = 0;
  DType dtype = DType::kF32;  ///< gpt2 safetensors tensor dtype (F32 or BF16)
};

/// Writes a llama2.c legacy-v0 checkpoint (shared classifier) with weights
/// drawn from N(0, 0.02²) and norm weights 1. Errors: INTERNAL on I/O failure.
absl::Status WriteRandomLlama2c(const RandomModelShape& shape, const std::string& path);

/// Writes a Hugging Face GPT2LMHeadModel directory (config.json +
/// model.safetensors, official tensor names, Conv1D [in, out] weights, tied LM
/// head) with N(0, 0.02²) weights, zero biases and unit LayerNorm weights.
/// Errors: INTERNAL on I/O failure.
absl::Status WriteRandomGpt2(const RandomModelShape& shape, const std::string& dir);

}  // namespace llmserve::tools

#endif  // LLMSERVE_TOOLS_RANDOM_MODEL_WRITER_H_
