#ifndef LLMSERVE_ENGINE_PRIMITIVES_CPU_KERNELS_H_
#define LLMSERVE_ENGINE_PRIMITIVES_CPU_KERNELS_H_

#include <cstdint>

#include "engine/primitives/rope_style.h"

namespace llmserve {

// Row-wise element kernels of the decoder. All tensors are f32, row-major;
// rows are independent (a row's result never depends on the other rows, so
// outputs do not depend on batch composition). Parallel over rows with OpenMP.
// AVX2 + FMA or portable loops, as the CPU-ISA dispatcher (engine/common/cpu_isa.h)
// allows. The *ToBf16 variants compute the same f32 row (in a per-thread
// buffer) and write it rounded to bf16 (as FloatToBf16) for a bf16-input matmul:
// the f32 activation never goes to memory.

/// out[r, :] = RMSNorm(x[r, :]) * weight: x / sqrt(mean(x²) + eps) * w
/// (Zhang & Sennrich 2019; computed as llama2.c's rmsnorm).
/// x, out: [rows, n]; weight: [n]. `out` may alias `x`.
void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps, float* out);
/// RmsNorm written as bf16 [rows, n].
void RmsNormToBf16(const float* x, const float* weight, int64_t rows, int64_t n, float eps,
                   uint16_t* out);

/// out[r, :] = (x - mean) / sqrt(var + eps) * weight + bias (Ba et al. 2016;
/// biased variance, as torch.nn.LayerNorm). x, out: [rows, n]; weight, bias: [n].
void LayerNorm(const float* x, const float* weight, const float* bias, int64_t rows, int64_t n,
               float eps, float* out);
/// LayerNorm written as bf16 [rows, n].
void LayerNormToBf16(const float* x, const float* weight, const float* bias, int64_t rows,
                     int64_t n, float eps, uint16_t* out);

/// Rotary position embedding (RoFormer, Su et al. 2021) applied in place to the
/// q and k heads of a fused QKV activation `qkv` [rows, row_stride], where each
/// row starts with num_heads query heads then num_kv_heads key heads, each of
/// head_dim floats. Row r is at position positions[r]. `cos_sin` is the table
/// from RopeTable: [max_position, head_dim / 2, 2] (cos, sin).
void ApplyRope(float* qkv, int64_t row_stride, int64_t rows, const int32_t* positions,
               int num_heads, int num_kv_heads, int head_dim, RopeStyle style,
               const float* cos_sin);

/// The RoPE table [max_position, head_dim / 2, 2]: for pair i the angle is
/// pos · theta^(-2i / head_dim), computed in f32 like llama2.c's run.c.
void RopeTable(int max_position, int head_dim, float theta, float* cos_sin);

/// SwiGLU (Shazeer 2020): out[r, j] = silu(gate_up[r, j]) * gate_up[r, ffn + j],
/// gate_up: [rows, 2 * ffn] (gate then up), out: [rows, ffn].
void SiluAndMul(const float* gate_up, int64_t rows, int64_t ffn, float* out);
/// SiluAndMul written as bf16 [rows, ffn].
void SiluAndMulToBf16(const float* gate_up, int64_t rows, int64_t ffn, uint16_t* out);

/// GELU, tanh approximation (GPT-2's `gelu_new`, Hendrycks & Gimpel 2016), in place
/// on x[n].
void GeluTanh(float* x, int64_t n);
/// out[i] = bf16(GeluTanh(x[i])) for i < n; x is not modified.
void GeluTanhToBf16(const float* x, int64_t n, uint16_t* out);

/// out[r, :] = table[ids[r], :] (+ pos_table[positions[r], :] if pos_table).
/// table: [vocab, n]; pos_table: [max_position, n]; out: [rows, n].
void Embed(const float* table, const int32_t* ids, const float* pos_table,
           const int32_t* positions, int64_t rows, int64_t n, float* out);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_CPU_KERNELS_H_
