#ifndef LLMSERVE_ENGINE_PRIMITIVES_LINEAR_H_
#define LLMSERVE_ENGINE_PRIMITIVES_LINEAR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/common/dtype.h"
#include "engine/common/host_tensor.h"

namespace llmserve {

/// A linear layer y = x · Wᵀ + b as one oneDNN `matmul` primitive.
///
/// The weight is given in PyTorch nn.Linear layout `[out_features, in_features]`
/// (any host dtype) and reordered once, at construction, into the layout the
/// primitive prefers (`format_tag::any`). The primitive is created once with a
/// run-time number of rows (DNNL_RUNTIME_DIM_VAL), so one primitive serves
/// every batch size. With `accumulate`, the result is added to the output
/// (oneDNN `sum` post-op): used to fuse residual connections.
///
/// Weight dtype kBF16 stores the weight as bfloat16 with f32 activations and
/// f32 accumulation: through oneDNN's bf16 matmul where the CPU supports it
/// (AVX512_BF16/AMX; oneDNN ≥ 2.x needs avx512_core), else through an own
/// AVX2 kernel that widens bf16 to f32 in registers (see bf16_matmul.h).
///
/// Thread-safe for concurrent Forward calls on different outputs. Uses the
/// calling thread's OpenMP thread count.
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
  /// contiguous (row strides in_features / out_features). rows ≥ 1.
  void Forward(const float* x, int64_t rows, float* y) const;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  /// Bytes of the packed weight (and bias) read per forward pass.
  int64_t weight_bytes() const { return weight_bytes_; }
  /// oneDNN implementation name (e.g. "gemm:jit") or "bf16:avx2".
  const std::string& implementation() const { return impl_; }

 private:
  struct Impl;
  Linear() = default;
  std::unique_ptr<Impl> impl_state_;
  int64_t in_ = 0, out_ = 0, weight_bytes_ = 0;
  std::string impl_;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_LINEAR_H_
