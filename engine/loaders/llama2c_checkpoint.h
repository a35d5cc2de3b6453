#ifndef LLMSERVE_ENGINE_LOADERS_LLAMA2C_CHECKPOINT_H_
#define LLMSERVE_ENGINE_LOADERS_LLAMA2C_CHECKPOINT_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/models/model_weights.h"

namespace llmserve {

/// Loads a llama2.c checkpoint (Karpathy's llama2.c, "legacy v0" export:
/// `export.py --version 0`), memory-mapped, as Llama-family ModelWeights.
///
/// Layout: 7 little-endian int32 — dim, hidden_dim, n_layers, n_heads,
/// n_kv_heads, vocab_size (negative: a separate classifier follows), seq_len —
/// then f32 tensors: token_embedding [vocab, dim]; rms_att [L, dim];
/// wq [L, dim, dim]; wk, wv [L, kv_dim, dim]; wo [L, dim, dim]; rms_ffn [L, dim];
/// w1 (gate) [L, hidden, dim]; w2 (down) [L, dim, hidden]; w3 (up) [L, hidden, dim];
/// rms_final [dim]; two unused RoPE tables [seq_len, head_dim/2] each; and, if
/// vocab_size < 0, wcls [vocab, dim].
///
/// The result uses RMSNorm (eps 1e-5), interleaved RoPE (theta 10000), SwiGLU
/// and stops at BOS (1) or EOS (2), as llama2.c's run.c does.
///
/// Errors (each names the file): NOT_FOUND; INVALID_ARGUMENT for a file shorter
/// than the header, zero/negative/oversized/inconsistent dimensions, dim not
/// divisible by n_heads, n_heads not divisible by n_kv_heads, or a size that
/// differs from what the header implies (expected vs actual bytes).
absl::StatusOr<ModelWeights> LoadLlama2cCheckpoint(const std::string& path);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LOADERS_LLAMA2C_CHECKPOINT_H_
