#ifndef LLMSERVE_ENGINE_PRIMITIVES_LINEAR_H_
#define LLMSERVE_ENGINE_PRIMITIVES_LINEAR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/common/dtype.h"
#include "engine/common/host_tensor.h"

namespace llmserve {

/// How a Linear computes; chosen once, at Create, from the weight dtype and
/// what oneDNN implements at the active CPU-ISA level (engine/common/cpu_isa.h).
enum class LinearBackend {
  kDnnlF32,   ///< oneDNN matmul, f32 activations × f32 weights
  kDnnlBf16,  ///< oneDNN matmul, bf16 activations × bf16 weights → f32 (AVX512_BF16 / AMX / avx512_core)
  kOwnBf16,   ///< own kernel (bf16_matmul.h): f32 activations × bf16 weights (AVX2 / scalar)
};

/// A linear layer y = x · Wᵀ + b: the one home of weight formats.
///
/// The weight is given in PyTorch nn.Linear layout `[out_features, in_features]`
/// (any host dtype) and packed once, at construction, for the backend:
///  * oneDNN backends: primitives are created per row count M (exact for
///    M ≤ 64, M rounded up to a multiple of 64 with zero padding up to 512,
///    larger M in chunks of 512 rows) so that oneDNN can pick its blocked
///    brgemm / AMX kernels, which it does not for a run-time M; the weights are
///    reordered once into the blocked layout (`format_tag::any`) those kernels
///    share. Where oneDNN prefers a plain layout (GEMM-based implementations,
///    e.g. below AVX-512), one run-time-M primitive serves every M instead,
///    except 2–8 f32 rows on AVX2, which run an own GEMV on that plain layout
///    (plain_gemv.h). Up to GemvMaxRows (64; bf16 with AMX: 8) rows on AVX-512
///    run the own GEMV on the blocked weights instead (blocked_gemv.h; oneDNN
///    2.6's brgemm is slower there, streaming the weights before computing);
///    LLMSERVE_LINEAR_GEMV=0 disables both for A/B measurements.
///  * kOwnBf16: bf16 rows for the AVX2 / scalar kernel.
/// With `accumulate`, the result is added to the output (residual fusion).
///
/// Thread-safe for concurrent Forward calls on different outputs (the
/// per-M primitive cache is guarded; scratch buffers are per thread). Uses
/// the calling thread's OpenMP thread count.
class Linear {
 public:
  /// Errors: INVALID_ARGUMENT if the weight is not 2-D, the bias is not
  /// [out_features] or the dtype is unsupported (f16 storage); INTERNAL if oneDNN
  /// cannot create the primitive.
  static absl::StatusOr<std::unique_ptr<Linear>> Create(const HostTensor& weight,
                                                        const HostTensor& bias, DType weight_dtype,
                                                        bool accumulate);
  ~Linear();

  /// y[rows, out] (+)= x[rows, in] · Wᵀ (+ b). `x` and `y` are row-major and
  /// contiguous (row strides in_features / out_features). rows ≥ 1. With a
  /// bf16-input backend x is rounded to bf16 first (as FloatToBf16).
  void Forward(const float* x, int64_t rows, float* y) const;

  /// As Forward with x already in bf16 [rows, in] (written by a fused norm /
  /// activation kernel). Only valid when input_dtype() == kBF16.
  void ForwardBf16(const uint16_t* x, int64_t rows, float* y) const;

  /// The activation dtype the backend consumes: kBF16 for kDnnlBf16, else kF32.
  DType input_dtype() const;
  LinearBackend backend() const { return backend_; }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  /// Bytes of the packed weight (and bias) read per forward pass.
  int64_t weight_bytes() const { return weight_bytes_; }
  /// The implementation, "<src>x<wei>:<kernel>": e.g. "bf16xbf16:brg:avx512_core_amx_bf16",
  /// "f32xf32:gemm:jit", "f32xbf16:own_avx2" (oneDNN's impl_info_str for the
  /// primitive at M = 32).
  const std::string& implementation() const { return impl_; }
  /// The implementation oneDNN chose for `rows` rows (creates the primitive if needed).
  std::string ImplementationForRows(int64_t rows) const;

  /// Rows a primitive is created for when asked for `rows` (≤ 512): exact up
  /// to 64, then the next multiple of 64.
  static int64_t PaddedRows(int64_t rows);

 private:
  struct Impl;
  Linear() = default;
  void Run(const void* x, bool x_is_bf16, int64_t rows, float* y) const;
  std::unique_ptr<Impl> impl_state_;
  LinearBackend backend_ = LinearBackend::kDnnlF32;
  int64_t in_ = 0, out_ = 0, weight_bytes_ = 0;
  std::string impl_;
};

/// "f32" / "bf16" / "own_bf16".
const char* LinearBackendName(LinearBackend backend);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_LINEAR_H_
