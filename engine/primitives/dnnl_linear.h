#ifndef LLMSERVE_ENGINE_PRIMITIVES_DNNL_LINEAR_H_
#define LLMSERVE_ENGINE_PRIMITIVES_DNNL_LINEAR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/primitives/linear_backend.h"

namespace llmserve {

/// The oneDNN LinearBackend for f32 or bf16 weights (f32 × f32, or bf16 × bf16
/// activations → f32), with the own few-row GEMVs on oneDNN's weight layouts.
///
/// The weight `w32` [out, in] (f32 values; rounded to bf16 with `bf16`) is
/// packed once:
///  * primitives are created per row count M (exact for M ≤ 64, M rounded up
///    to a multiple of 64 with zero padding up to 512, larger M in chunks of
///    512 rows) so that oneDNN can pick its blocked brgemm / AMX kernels, which
///    it does not for a run-time M; the weights are reordered once into the
///    blocked layout (`format_tag::any`) those kernels share. Where oneDNN
///    prefers a plain layout (GEMM-based implementations, e.g. below AVX-512),
///    one run-time-M primitive serves every M instead, except 2–8 f32 rows on
///    AVX2, which run an own GEMV on that plain layout (plain_gemv.h). Up to
///    GemvMaxRows (64; bf16 with AMX: 8) rows on AVX-512 run the own GEMV on
///    the blocked weights instead (blocked_gemv.h; oneDNN 2.6's brgemm is
///    slower there, streaming the weights before computing);
///    LLMSERVE_LINEAR_GEMV=0 disables both for A/B measurements.
/// `bias` is [out] or empty. With `accumulate` the result is added to y.
///
/// Returns a null backend (OK) for bf16 when oneDNN has no bf16 matmul at this
/// CPU-ISA level (the caller takes own_bf16_linear.h). Errors: INTERNAL if
/// oneDNN cannot create an f32 primitive; RESOURCE_EXHAUSTED from the weight
/// allocation.
absl::StatusOr<std::unique_ptr<LinearBackend>> CreateDnnlLinear(const std::vector<float>& w32,
                                                                int64_t out, int64_t in,
                                                                const std::vector<float>& bias,
                                                                bool bf16, bool accumulate);

/// Rows a oneDNN primitive is created for when asked for `rows` (≤ 512): exact
/// up to 64, then the next multiple of 64.
int64_t DnnlPaddedRows(int64_t rows);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_DNNL_LINEAR_H_
