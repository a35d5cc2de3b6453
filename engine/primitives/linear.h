#ifndef LLMSERVE_ENGINE_PRIMITIVES_LINEAR_H_
#define LLMSERVE_ENGINE_PRIMITIVES_LINEAR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/common/dtype.h"
#include "engine/common/host_tensor.h"
#include "engine/primitives/linear_backend.h"

namespace llmserve {

/// A linear layer y = x · Wᵀ + b: the one home of weight formats.
///
/// The weight is given in PyTorch nn.Linear layout `[out_features, in_features]`
/// and held by one LinearBackend (linear_backend.h) chosen at Create:
///  * a block-quantized weight (weight.dtype kQ8_0 / kQ4_0 / kQ4_K / kQ6_K, raw
///    ggml blocks, e.g. a view into a memory-mapped GGUF file), or an f32 / bf16
///    weight with `weight_dtype` kQ8_0 / kQ4_0 (quantized here, as llama.cpp's
///    quantize_row_*_ref): the quantized backend (quant_linear.h);
///  * `weight_dtype` kF32: oneDNN f32 (dnnl_linear.h);
///  * `weight_dtype` kBF16: oneDNN bf16 where oneDNN has it at the active
///    CPU-ISA level, else the own f32 × bf16 kernel (own_bf16_linear.h).
/// With `accumulate`, the result is added to the output (residual fusion).
///
/// Thread-safe for concurrent Forward calls on different outputs. Uses the
/// calling thread's OpenMP thread count.
class Linear {
 public:
  /// Errors: INVALID_ARGUMENT if the weight is not 2-D, the bias is not
  /// [out_features], the dtype is unsupported (f16 storage; a quantized
  /// weight_dtype other than q8_0 / q4_0 for a float weight) or a quantized
  /// row is not whole blocks; INTERNAL if oneDNN cannot create the primitive.
  static absl::StatusOr<std::unique_ptr<Linear>> Create(const HostTensor& weight,
                                                        const HostTensor& bias, DType weight_dtype,
                                                        bool accumulate);
  ~Linear();

  /// y[rows, out] (+)= x[rows, in] · Wᵀ (+ b). `x` and `y` are row-major and
  /// contiguous (row strides in_features / out_features). rows ≥ 1. With a
  /// bf16-input backend x is rounded to bf16 first (as FloatToBf16).
  void Forward(const float* x, int64_t rows, float* y) const { backend_->Forward(x, rows, y); }

  /// As Forward with x already in bf16 [rows, in] (written by a fused norm /
  /// activation kernel). Only valid when input_dtype() == kBF16.
  void ForwardBf16(const uint16_t* x, int64_t rows, float* y) const {
    backend_->ForwardBf16(x, rows, y);
  }

  /// The activation dtype the backend consumes: kBF16 for kDnnlBf16, else kF32.
  DType input_dtype() const { return backend_->input_dtype(); }
  /// The weight dtype as stored (kF32, kBF16, kQ8_0, kQ4_0, kQ4_K, kQ6_K).
  DType weight_dtype() const { return backend_->weight_dtype(); }
  LinearBackendKind backend() const { return backend_->kind(); }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  /// Bytes of the stored weight (and bias) read per forward pass.
  int64_t weight_bytes() const { return backend_->weight_bytes(); }
  /// The implementation, "<src>x<wei>:<kernel>": e.g. "bf16xbf16:brg:avx512_core_amx_bf16",
  /// "f32xf32:gemm:jit", "f32xbf16:own_avx2", "q8xq4_0:own_avx512_vnni_r16" (oneDNN's
  /// impl_info_str for the primitive at M = 32).
  const std::string& implementation() const { return backend_->implementation(); }
  /// The implementation used for `rows` rows (creates a oneDNN primitive if needed).
  std::string ImplementationForRows(int64_t rows) const {
    return backend_->ImplementationForRows(rows);
  }

  /// Rows a oneDNN primitive is created for when asked for `rows` (≤ 512):
  /// exact up to 64, then the next multiple of 64.
  static int64_t PaddedRows(int64_t rows);

 private:
  Linear() = default;
  std::unique_ptr<LinearBackend> backend_;
  int64_t in_ = 0, out_ = 0;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_LINEAR_H_
