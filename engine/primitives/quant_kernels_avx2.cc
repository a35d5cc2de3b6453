// The AVX2 quantized matmul kernels (vpmaddubsw / vpmaddwd): quant_kernels_x86.inc.
#define QK_TARGET "avx2,fma,f16c"
#define QK_VNNI 0
#define QK_NS avx2_kernels
#include "engine/primitives/quant_kernels_x86.inc"

namespace llmserve {
QuantMatmulFn QuantAvx2Kernel(DType type) { return avx2_kernels::Table(type); }
}  // namespace llmserve
