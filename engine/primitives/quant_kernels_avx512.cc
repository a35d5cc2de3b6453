// The AVX-512 VNNI quantized matmul kernels: quant_kernels_x86.inc. 512-bit
// vpdpbusd on the row-interleaved layouts (quant_packed_x86.inc for Q8_0 /
// Q4_0, quant_packed_q6k_x86.inc, quant_packed_q4k_x86.inc), 16 output rows
// per vector.
// GCC 12 warns about its own _mm512_undefined_ps() in cvtph / cvtepi32
// (GCC PR 105593; the same pragma as blocked_gemv.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define QK_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
#define QK_VNNI 1
#define QK_NS avx512_vnni_kernels
#include "engine/primitives/quant_kernels_x86.inc"

namespace llmserve {
QuantMatmulFn QuantAvx512VnniKernel(DType type) { return avx512_vnni_kernels::Table(type); }
}  // namespace llmserve
