#ifndef LLMSERVE_ENGINE_PRIMITIVES_ROPE_STYLE_H_
#define LLMSERVE_ENGINE_PRIMITIVES_ROPE_STYLE_H_

namespace llmserve {

/// Pairing of dimensions rotated together by RoPE.
enum class RopeStyle {
  kInterleaved,  ///< pairs (2i, 2i+1): Meta's Llama reference and llama2.c
  kHalf,         ///< pairs (i, i + head_dim/2): Hugging Face `rotate_half` (GPT-NeoX)
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_ROPE_STYLE_H_
