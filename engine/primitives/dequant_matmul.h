#ifndef LLMSERVE_ENGINE_PRIMITIVES_DEQUANT_MATMUL_H_
#define LLMSERVE_ENGINE_PRIMITIVES_DEQUANT_MATMUL_H_

#include <cstdint>
#include <functional>
#include <string>

namespace llmserve {

/// Writes rows [o0, o1) of a quantized weight, dequantized, into
/// dst[o1 − o0, in] (f32, row-major). DequantMatmul calls it with o0 a
/// multiple of 16 (kDequantRows).
using DequantRowsFn = std::function<void(int64_t o0, int64_t o1, float* dst)>;

/// Rows per DequantRowsFn call (one group of the packed layout, quant_repack.h).
inline constexpr int64_t kDequantRows = 16;

/// The many-row (prefill) path of quantized weights: y[rows, out] (+)=
/// x[rows, in] · deq(W)ᵀ (+ bias[out]) where the rows of deq(W) are what
/// `dequant_rows` writes (ggml blocks: DequantizeRow, ggml_blocks.h; the
/// row-interleaved layout: DequantizePackedRows, quant_repack.h). oneDNN's int8 matmul cannot express
/// per-32-value block scales, so W is dequantized in tiles of output rows into bf16 where oneDNN has a bf16
/// matmul at the active CPU-ISA level (AVX512_BF16 / AMX; x rounded to bf16),
/// else into f32 (exact), and each tile runs as a oneDNN matmul writing its
/// columns of y. The dequantization is O(out · in) per call, amortized over
/// the rows. Parallel on the calling thread's OpenMP team.
void DequantMatmul(const DequantRowsFn& dequant_rows, int64_t in, int64_t out,
                   const float* x, int64_t rows, const float* bias, bool accumulate, float* y);

/// "bf16xbf16:dequant+<oneDNN impl>" or "f32xf32:dequant+<impl>" for `rows`
/// rows of [in → out] (creates the primitive).
std::string DequantMatmulName(int64_t in, int64_t out, int64_t rows);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_DEQUANT_MATMUL_H_
