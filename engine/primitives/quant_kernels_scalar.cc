// The reference quantized matmul kernels in portable C++ (the scalar CPU-ISA
// level), and the kernel dispatch. Block formats: ggml-common.h (ggml_blocks.h).
#include <cstring>

#include "engine/common/ggml_blocks.h"
#include "engine/primitives/quant_kernels.h"
#include "engine/primitives/quant_repack.h"
#include "engine/primitives/quant_repack_q4k.h"
#include "engine/primitives/quant_repack_q6k.h"

namespace llmserve {
namespace {

// Stores dot(gp, x, xd, xs, i) at (activation row r, output o + i) for every
// row i of every 16-row group (at gp) in [o0, o1) and every activation row r
// (its int8 values x, block scales xd and 16-value sums xs): the loop the
// reference kernels below share.
template <typename RowDot>
void ForEachPackedRow(const QuantMatmulArgs& a, int64_t o0, int64_t o1, RowDot dot) {
  for (int64_t o = o0; o < o1; o += kPackRows) {
    const uint8_t* gp = a.w + (o / kPackRows) * a.w_row_bytes;
    const int valid = static_cast<int>(o1 - o < kPackRows ? o1 - o : kPackRows);
    for (int64_t r = 0; r < a.x->rows; ++r) {
      const int8_t* x = a.x->row_qs(r);
      const float* xd = a.x->row_d(r);
      const int16_t* xs = a.x->row_sum16(r);
      for (int i = 0; i < valid; ++i) QuantStore(a, r, o + i, dot(gp, x, xd, xs, i));
    }
  }
}

// The row-interleaved Q8_0 / Q4_0 layout (quant_repack.h): per group, block
// and activation row, Σ_k u[i, k] · x̂[k] − offset · Σ_k x̂[k] for the 16 rows
// i (u = q + 128 for Q8_0, the nibbles for Q4_0), times d_w[i] · d_x.
template <bool kQ8>
void PackedMatmul(const QuantMatmulArgs& a, int64_t o0, int64_t o1) {
  const int64_t nb = a.in / kQBlock;
  const int64_t block_bytes = kPackRows * (kQ8 ? kQBlock : kQBlock / 2);
  ForEachPackedRow(a, o0, o1, [&](const uint8_t* gp, const int8_t* x, const float* xd, const int16_t* xs, int i) {
    const uint16_t* sc = reinterpret_cast<const uint16_t*>(gp + nb * block_bytes);
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* q = gp + b * block_bytes + 4 * i;
      const int8_t* xb = x + kQBlock * b;
      int32_t s = -(kQ8 ? 128 : 8) * (xs[2 * b] + xs[2 * b + 1]);
      for (int k = 0; k < (kQ8 ? kQBlock : kQBlock / 2); ++k) {
        const uint8_t v = q[64 * (k / 4) + k % 4];
        if (kQ8) {
          s += v * xb[k];
        } else {
          s += (v & 0xF) * xb[k] + (v >> 4) * xb[k + kQBlock / 2];
        }
      }
      acc += HalfToFloat(sc[kPackRows * b + i]) * xd[b] * static_cast<float>(s);
    }
    return acc;
  });
}

// The row-interleaved Q4_K layout (quant_repack_q4k.h): per group, super-block
// and activation row, d_w[i] · d_x · Σ_s sc[i, s] · Σ_{k in s} q[i, k] · x̂[k]
// − dmin_w[i] · d_x · Σ_s m[i, s] · Σ_{k in s} x̂[k] for the 16 rows i (s: the
// 32-value sub-blocks).
void PackedQ4KMatmul(const QuantMatmulArgs& a, int64_t o0, int64_t o1) {
  const int64_t nb = a.in / kQKBlock;
  ForEachPackedRow(a, o0, o1, [&](const uint8_t* gp, const int8_t* x, const float* xd, const int16_t* xs, int i) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* sb = gp + b * kQ4KSuperBlockBytes;
      const uint16_t* d = reinterpret_cast<const uint16_t*>(gp + nb * kQ4KSuperBlockBytes + kQ4KDBytes * b);
      int32_t isum = 0, msum = 0;
      for (int s = 0; s < 8; ++s) {
        int32_t sum = 0;
        for (int k = 32 * s; k < 32 * s + 32; ++k) sum += PackedQ4KValue(sb, i, k) * x[kQKBlock * b + k];
        isum += PackedQ4KScale(sb, i, s) * sum;
        msum += PackedQ4KMin(sb, i, s) * (xs[16 * b + 2 * s] + xs[16 * b + 2 * s + 1]);
      }
      acc += HalfToFloat(d[i]) * xd[b] * static_cast<float>(isum) -
             HalfToFloat(d[16 + i]) * xd[b] * static_cast<float>(msum);
    }
    return acc;
  });
}

// The row-interleaved Q6_K layout (quant_repack_q6k.h): per group, super-block
// and activation row, Σ_s scale[i, s] · (Σ_{k in s} q[i, k] · x̂[k] − 32 · Σ_{k in s} x̂[k])
// for the 16 rows i (q: the 6-bit values 0..63, s: the 16-value sub-blocks),
// times d_w[i] · d_x.
void PackedQ6KMatmul(const QuantMatmulArgs& a, int64_t o0, int64_t o1) {
  const int64_t nb = a.in / kQKBlock;
  ForEachPackedRow(a, o0, o1, [&](const uint8_t* gp, const int8_t* x, const float* xd, const int16_t* xs, int i) {
    const uint16_t* dw = reinterpret_cast<const uint16_t*>(gp + nb * kQ6KSuperBlockBytes);
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* sb = gp + b * kQ6KSuperBlockBytes;
      int32_t isum = 0;
      for (int s = 0; s < kQKBlock / 16; ++s) {
        int32_t sum = -32 * xs[(kQKBlock / 16) * b + s];
        for (int k = 16 * s; k < 16 * s + 16; ++k) sum += PackedQ6KValue(sb, i, k) * x[kQKBlock * b + k];
        isum += PackedQ6KScale(sb, i, s) * sum;
      }
      acc += HalfToFloat(dw[kPackRows * b + i]) * xd[b] * static_cast<float>(isum);
    }
    return acc;
  });
}

}  // namespace

QuantMatmulFn QuantScalarKernel(DType type) {
  switch (type) {
    case DType::kQ8_0: return PackedMatmul<true>;
    case DType::kQ4_0: return PackedMatmul<false>;
    case DType::kQ4_K: return PackedQ4KMatmul;
    case DType::kQ6_K: return PackedQ6KMatmul;
    default: return nullptr;
  }
}

int QuantActivationBlock(DType type) {
  return type == DType::kQ4_K || type == DType::kQ6_K ? kQKBlock : kQBlock;
}

bool CpuHasAvx512Vnni() {
  static const bool has = __builtin_cpu_supports("avx512vnni") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  return has;
}

QuantKernel QuantKernelFor(DType type, CpuIsa isa) {
  if (isa >= CpuIsa::kAvx512 && CpuHasAvx512Vnni()) {
    if (QuantMatmulFn f = QuantAvx512VnniKernel(type)) return {f, "own_avx512_vnni_r16"};
  }
  if (isa >= CpuIsa::kAvx2) {
    if (QuantMatmulFn f = QuantAvx2Kernel(type)) return {f, "own_avx2_r16"};
  }
  return {QuantScalarKernel(type), "own_scalar_r16"};
}

}  // namespace llmserve
