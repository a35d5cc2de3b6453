#ifndef LLMSERVE_ENGINE_PRIMITIVES_OWN_BF16_LINEAR_H_
#define LLMSERVE_ENGINE_PRIMITIVES_OWN_BF16_LINEAR_H_

#include <memory>
#include <vector>

#include "engine/primitives/linear_backend.h"

namespace llmserve {

/// The LinearBackend for bf16 weights where oneDNN has no bf16 matmul (below
/// avx512_core): f32 activations × bf16 rows [out, in] with the own AVX2 /
/// scalar kernel (bf16_matmul.h). `w32` is the f32 weight [out, in], `bias`
/// [out] or empty. Never fails.
std::unique_ptr<LinearBackend> CreateOwnBf16Linear(const std::vector<float>& w32, int64_t out,
                                                   int64_t in, std::vector<float> bias,
                                                   bool accumulate);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_OWN_BF16_LINEAR_H_
