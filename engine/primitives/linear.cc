#include "engine/primitives/linear.h"

#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/primitives/dnnl_linear.h"
#include "engine/primitives/own_bf16_linear.h"
#include "engine/primitives/quant_linear.h"

namespace llmserve {

void LinearBackend::ForwardBf16(const uint16_t*, int64_t, float*) const {
  std::fprintf(stderr, "llmserve: Linear::ForwardBf16 on an f32-input backend\n");
  std::abort();
}

std::string LinearBackend::ImplementationForRows(int64_t) const { return implementation(); }

const char* LinearBackendName(LinearBackendKind kind) {
  switch (kind) {
    case LinearBackendKind::kDnnlF32:
      return "f32";
    case LinearBackendKind::kDnnlBf16:
      return "bf16";
    case LinearBackendKind::kOwnBf16:
      return "own_bf16";
    case LinearBackendKind::kQuantized:
      return "quantized";
  }
  return "unknown";
}

int64_t Linear::PaddedRows(int64_t rows) { return DnnlPaddedRows(rows); }

Linear::~Linear() = default;

absl::StatusOr<std::unique_ptr<Linear>> Linear::Create(const HostTensor& weight,
                                                       const HostTensor& bias, DType weight_dtype,
                                                       bool accumulate) {
  if (weight.shape.size() != 2 || weight.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("linear weight must be 2-D [out, in], got ", weight.ShapeString()));
  }
  const int64_t out = weight.shape[0], in = weight.shape[1];
  if (!bias.empty() && (bias.shape.size() != 1 || bias.shape[0] != out)) {
    return absl::InvalidArgumentError(absl::StrCat("linear bias must be [", out, "], got ",
                                                   bias.ShapeString()));
  }
  if (!IsQuantized(weight.dtype) && weight_dtype == DType::kF16) {
    return absl::InvalidArgumentError("f16 weight storage is not supported; use f32 or bf16");
  }
  std::unique_ptr<Linear> linear(new Linear());
  linear->in_ = in;
  linear->out_ = out;
  // The one place backends are chosen.
  absl::StatusOr<std::unique_ptr<LinearBackend>> backend;
  if (IsQuantized(weight.dtype) || IsQuantized(weight_dtype)) {
    backend = CreateQuantizedLinear(weight, bias, weight_dtype, accumulate);
  } else {
    const std::vector<float> w32 = weight.ToFloat();  // [out, in]
    const std::vector<float> b32 = bias.empty() ? std::vector<float>() : bias.ToFloat();
    const bool bf16 = weight_dtype == DType::kBF16;
    backend = CreateDnnlLinear(w32, out, in, b32, bf16, accumulate);
    if (backend.ok() && *backend == nullptr) {  // no oneDNN bf16 matmul at this ISA level
      backend = CreateOwnBf16Linear(w32, out, in, b32, accumulate);
    }
  }
  if (!backend.ok()) return backend.status();
  linear->backend_ = *std::move(backend);
  return linear;
}

}  // namespace llmserve
