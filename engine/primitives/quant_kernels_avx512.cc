// The AVX-512 VNNI quantized matmul kernels (vpdpbusd on 256-bit vectors,
// AVX512VL): quant_kernels_x86.inc. 256-bit rather than 512-bit vectors: one
// ggml block of 32 is one vector (blocks are 18 / 34 bytes apart, so two do
// not load as one zmm), and Zen 4 executes a 512-bit vpdpbusd as two 256-bit
// halves anyway.
#define QK_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
#define QK_VNNI 1
#define QK_NS avx512_vnni_kernels
#include "engine/primitives/quant_kernels_x86.inc"

namespace llmserve {
QuantMatmulFn QuantAvx512VnniKernel(DType type) { return avx512_vnni_kernels::Table(type); }
}  // namespace llmserve
