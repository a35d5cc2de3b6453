#ifndef LLMSERVE_ENGINE_PRIMITIVES_QUANT_KERNELS_H_
#define LLMSERVE_ENGINE_PRIMITIVES_QUANT_KERNELS_H_

#include <cstdint>

#include "engine/common/cpu_isa.h"
#include "engine/common/dtype.h"
#include "engine/primitives/quantize.h"

namespace llmserve {

/// One call of a quantized matmul kernel: y[r, o] (+)= Σ_k W[o, k] · x̂[r, k]
/// (+ bias[o]) for every row r < x.rows and o in [o0, o1), where x̂ is the
/// int8-quantized activations (quantize.h; blocks of 32 for Q8_0 / Q4_0, 256
/// for Q4_K / Q6_K) and W [out, in] is
///  the row-interleaved layout of quant_repack.h at w (every type; ggml's
///  blocks repacked), group g at w + g · w_row_bytes (the group size); o0
///  must be a multiple of kPackRows (o1 need not be).
/// The integer block sums are exact; scales are applied in f32.
struct QuantMatmulArgs {
  const uint8_t* w = nullptr;
  int64_t w_row_bytes = 0;  // bytes per 16-row group (PackedQuantLayout::group_bytes)
  int64_t in = 0;
  const QuantizedActivations* x = nullptr;
  const float* bias = nullptr;  // [out] or null
  bool accumulate = false;
  float* y = nullptr;  // [x->rows, ldy]
  int64_t ldy = 0;
};

using QuantMatmulFn = void (*)(const QuantMatmulArgs& args, int64_t o0, int64_t o1);

/// Stores one result: y (+)= v + bias.
inline void QuantStore(const QuantMatmulArgs& a, int64_t r, int64_t o, float v) {
  float* p = a.y + r * a.ldy + o;
  if (a.bias != nullptr) v += a.bias[o];
  *p = a.accumulate ? *p + v : v;
}

/// A quantized matmul kernel for one weight type at one ISA level.
struct QuantKernel {
  QuantMatmulFn fn = nullptr;
  /// "own_scalar_r16", "own_avx2_r16", "own_avx512_vnni_r16" ("_r16": the
  /// row-interleaved layout, quant_repack.h).
  const char* name = "";
};

/// The kernel for `type` (kQ8_0, kQ4_0, kQ4_K, kQ6_K) at exactly `isa`'s
/// family: kScalar → portable C++ (the reference), kAvx2 → AVX2
/// (vpmaddubsw / vpmaddwd), kAvx512 and kAmx → AVX-512 VNNI (vpdpbusd; 512-bit
/// vectors for the packed layout) if the CPU has AVX512_VNNI, else the AVX2
/// kernel. No AMX-int8 kernel exists yet.
/// Only pass an ISA the CPU supports (≤ DetectedCpuIsa()).
QuantKernel QuantKernelFor(DType type, CpuIsa isa);

/// Activation block size the kernels of `type` take: 32 (Q8_0, Q4_0) or 256.
int QuantActivationBlock(DType type);

// Per-ISA tables (quant_kernels_{scalar,avx2,avx512}.cc); null for a missing type.
QuantMatmulFn QuantScalarKernel(DType type);
QuantMatmulFn QuantAvx2Kernel(DType type);
QuantMatmulFn QuantAvx512VnniKernel(DType type);
bool CpuHasAvx512Vnni();

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_QUANT_KERNELS_H_
