#ifndef LLMSERVE_ENGINE_PRIMITIVES_LINEAR_BACKEND_H_
#define LLMSERVE_ENGINE_PRIMITIVES_LINEAR_BACKEND_H_

#include <cstdint>
#include <string>

#include "engine/common/dtype.h"

namespace llmserve {

/// Which backend a Linear runs (for tests and logs).
enum class LinearBackendKind {
  kDnnlF32,    ///< oneDNN matmul, f32 activations × f32 weights (dnnl_linear.h)
  kDnnlBf16,   ///< oneDNN matmul, bf16 activations × bf16 weights → f32 (dnnl_linear.h)
  kOwnBf16,    ///< own kernel, f32 activations × bf16 weights (own_bf16_linear.h)
  kQuantized,  ///< ggml block-quantized weights (quant_linear.h)
};

/// One way of computing y[rows, out] (+)= x[rows, in] · Wᵀ (+ b) for a fixed
/// weight W [out, in]: a backend owns its weight in its own layout. Linear
/// (linear.h) validates the arguments, chooses one backend at Create and
/// forwards to it; a new weight format is one new LinearBackend.
///
/// Implementations are thread-safe for concurrent Forward calls on different
/// outputs and use the calling thread's OpenMP thread count.
class LinearBackend {
 public:
  virtual ~LinearBackend() = default;

  /// y[rows, out] (+)= x[rows, in] · Wᵀ (+ b); x, y row-major, contiguous; rows ≥ 1.
  virtual void Forward(const float* x, int64_t rows, float* y) const = 0;

  /// As Forward with x in bf16 [rows, in]. Only called when input_dtype() is
  /// kBF16; the default aborts (a programming error, not a user error).
  virtual void ForwardBf16(const uint16_t* x, int64_t rows, float* y) const;

  /// The activation dtype the backend consumes (kF32 or kBF16).
  virtual DType input_dtype() const { return DType::kF32; }
  /// The weight dtype as stored (kF32, kBF16, kQ8_0 ...).
  virtual DType weight_dtype() const = 0;
  virtual LinearBackendKind kind() const = 0;
  /// Bytes of the stored weight (and bias) read per forward pass.
  virtual int64_t weight_bytes() const = 0;
  /// "<src>x<wei>:<kernel>", e.g. "f32xf32:brg:avx512_core", "q8xq4_0:own_avx512_vnni_r16".
  virtual const std::string& implementation() const = 0;
  /// The kernel used for `rows` rows (default: implementation()).
  virtual std::string ImplementationForRows(int64_t rows) const;
};

/// "f32" / "bf16" / "own_bf16" / "quantized".
const char* LinearBackendName(LinearBackendKind kind);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_LINEAR_BACKEND_H_
