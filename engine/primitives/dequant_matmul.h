#ifndef LLMSERVE_ENGINE_PRIMITIVES_DEQUANT_MATMUL_H_
#define LLMSERVE_ENGINE_PRIMITIVES_DEQUANT_MATMUL_H_

#include <cstdint>
#include <functional>
#include <string>

namespace llmserve {

/// Writes row `o` of a quantized weight, dequantized, into dst[in] (f32).
using DequantRowFn = std::function<void(int64_t o, float* dst)>;

/// The many-row (prefill) path of quantized weights: y[rows, out] (+)=
/// x[rows, in] · deq(W)ᵀ (+ bias[out]) where row o of deq(W) is what
/// `dequant_row` writes (ggml blocks: DequantizeRow, ggml_blocks.h; the
/// row-interleaved layout: DequantizePackedRow, quant_repack.h). oneDNN's int8 matmul cannot express
/// per-32-value block scales, so W is dequantized in tiles of output rows into bf16 where oneDNN has a bf16
/// matmul at the active CPU-ISA level (AVX512_BF16 / AMX; x rounded to bf16),
/// else into f32 (exact), and each tile runs as a oneDNN matmul writing its
/// columns of y. The dequantization is O(out · in) per call, amortized over
/// the rows. Parallel on the calling thread's OpenMP team.
void DequantMatmul(const DequantRowFn& dequant_row, int64_t in, int64_t out,
                   const float* x, int64_t rows, const float* bias, bool accumulate, float* y);

/// "bf16xbf16:dequant+<oneDNN impl>" or "f32xf32:dequant+<impl>" for `rows`
/// rows of [in → out] (creates the primitive).
std::string DequantMatmulName(int64_t in, int64_t out, int64_t rows);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_DEQUANT_MATMUL_H_
