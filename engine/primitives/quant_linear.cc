#include "engine/primitives/quant_linear.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/cpu_isa.h"
#include "engine/common/ggml_blocks.h"
#include "engine/common/huge_page_buffer.h"
#include "engine/common/mapped_file.h"
#include "engine/primitives/dequant_matmul.h"
#include "engine/primitives/quant_kernels.h"
#include "engine/primitives/quant_repack.h"
#include "engine/primitives/quantize.h"

namespace llmserve {
namespace {

/// Output rows per OpenMP work item: a multiple of the kernels' 4-row tile
/// and of the packed layout's 16-row group.
constexpr int64_t kRowsPerChunk = 16;
static_assert(kRowsPerChunk % kPackRows == 0);
/// Activation rows per kernel pass: their int8 rows stay in L2 while the
/// weights stream past them.
constexpr int64_t kActivationRowsPerPass = 64;

/// Rows from which Forward dequantizes tiles of the weight for oneDNN
/// (dequant_matmul.h) instead of the int8 kernels; LLMSERVE_QUANT_PREFILL_ROWS
/// overrides it (for A/B measurements). Measured on [768 → 2304], Zen 4, 2
/// threads (loaded host), CPU ms per layer kernel vs dequant: q8_0 8 rows
/// 0.30 vs 0.85, 32 rows 0.98 vs 1.1, 512 rows 33 vs 5; q4_0 32 rows 0.99 vs
/// 1.44 (docs/benchmarks.md "Quantized weights").
int64_t PrefillRows() {
  static const int64_t rows = [] {
    const char* env = std::getenv("LLMSERVE_QUANT_PREFILL_ROWS");
    return env != nullptr && std::atoll(env) > 0 ? std::atoll(env) : int64_t{64};
  }();
  return rows;
}

QuantizedActivations& ThreadActivations() {
  thread_local QuantizedActivations a;
  return a;
}

class QuantizedLinear final : public LinearBackend {
 public:
  void Forward(const float* x, int64_t rows, float* y) const override {
    if (rows >= PrefillRows()) {
      const DequantRowsFn deq = [this](int64_t o0, int64_t o1, float* dst) {
        DequantizePackedRows(layout_, w_, o0, o1, dst);
      };
      DequantMatmul(deq, in_, out_, x, rows, bias_.empty() ? nullptr : bias_.data(), accumulate_, y);
      return;
    }
    QuantizedActivations& qa = ThreadActivations();
    for (int64_t start = 0; start < rows; start += kActivationRowsPerPass) {
      const int64_t m = std::min(kActivationRowsPerPass, rows - start);
      QuantizeActivations(x + start * in_, m, in_, QuantActivationBlock(type_), &qa);
      QuantMatmulArgs args;
      args.w = w_;
      args.w_row_bytes = layout_.group_bytes;
      args.in = in_;
      args.x = &qa;
      args.bias = bias_.empty() ? nullptr : bias_.data();
      args.accumulate = accumulate_;
      args.y = y + start * out_;
      args.ldy = out_;
      const int64_t chunks = (out_ + kRowsPerChunk - 1) / kRowsPerChunk;
      const QuantMatmulFn fn = kernel_.fn;
#pragma omp parallel for schedule(static)
      for (int64_t c = 0; c < chunks; ++c) {
        fn(args, c * kRowsPerChunk, std::min(out_, (c + 1) * kRowsPerChunk));
      }
    }
  }
  DType weight_dtype() const override { return type_; }
  LinearBackendKind kind() const override { return LinearBackendKind::kQuantized; }
  int64_t weight_bytes() const override {
    return layout_.total_bytes() + static_cast<int64_t>(bias_.size()) * 4;
  }
  const std::string& implementation() const override { return impl_; }
  std::string ImplementationForRows(int64_t rows) const override {
    return rows >= PrefillRows() ? DequantMatmulName(in_, out_, rows) : kernel_name_;
  }

  DType type_ = DType::kQ8_0;
  int64_t in_ = 0, out_ = 0;
  PackedQuantLayout layout_;  // of w_
  const uint8_t* w_ = nullptr;  // the repacked weight, in buffer_
  HugePageBuffer buffer_;
  std::vector<float> bias_;
  bool accumulate_ = false;
  QuantKernel kernel_;
  std::string kernel_name_;  // the small-M kernel, "q8x<type>:own_<isa>"
  std::string impl_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LinearBackend>> CreateQuantizedLinear(const HostTensor& weight,
                                                                     const HostTensor& bias,
                                                                     DType weight_dtype,
                                                                     bool accumulate) {
  const int64_t out = weight.shape[0], in = weight.shape[1];
  const DType type = IsQuantized(weight.dtype) ? weight.dtype : weight_dtype;
  if (!IsQuantized(weight.dtype) && type != DType::kQ8_0 && type != DType::kQ4_0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quantizing weights at load supports q8_0 and q4_0, not ", std::string(DTypeName(type))));
  }
  const int64_t row_bytes = DTypeRowBytes(type, in);
  if (row_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", std::string(DTypeName(type)), " weight needs in_features a multiple of ",
                     DTypeBlockElements(type), ", got ", weight.ShapeString()));
  }
  auto q = std::make_unique<QuantizedLinear>();
  q->type_ = type;
  q->in_ = in;
  q->out_ = out;
  q->accumulate_ = accumulate;
  if (!bias.empty()) q->bias_ = bias.ToFloat();
  q->kernel_ = QuantKernelFor(type, ActiveCpuIsa());
  // Float weights: quantized here, row by row, into ggml blocks first.
  std::vector<uint8_t> quantized;
  const uint8_t* blocks = static_cast<const uint8_t*>(weight.data);
  if (!IsQuantized(weight.dtype)) {
    quantized.resize(static_cast<std::size_t>(out * row_bytes));
    const std::vector<float> w32 = weight.ToFloat();
    uint8_t* dst = quantized.data();
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < out; ++o) {
      if (type == DType::kQ8_0) {
        QuantizeRowQ8_0(w32.data() + o * in, in, reinterpret_cast<BlockQ8_0*>(dst + o * row_bytes));
      } else {
        QuantizeRowQ4_0(w32.data() + o * in, in, reinterpret_cast<BlockQ4_0*>(dst + o * row_bytes));
      }
    }
    blocks = quantized.data();
  }
  // Repacked once into the row-interleaved layout; the original (e.g. pages
  // of a mapped GGUF file) is then released from RSS.
  q->layout_ = PackedLayoutFor(type, out, in);
  absl::StatusOr<HugePageBuffer> buffer =
      HugePageBuffer::Allocate(static_cast<std::size_t>(q->layout_.total_bytes()));
  if (!buffer.ok()) return buffer.status();
  q->buffer_ = *std::move(buffer);
  uint8_t* dst = static_cast<uint8_t*>(q->buffer_.data());
  const PackedQuantLayout& layout = q->layout_;
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < layout.groups; ++g) RepackQuantGroups(layout, blocks, row_bytes, g, g + 1, dst);
  q->w_ = dst;
  if (IsQuantized(weight.dtype)) {
    ReleaseMappedPages(weight.data, static_cast<std::size_t>(out * row_bytes));
  }
  q->kernel_name_ = absl::StrCat("q8x", std::string(DTypeName(type)), ":", q->kernel_.name);
  q->impl_ = absl::StrCat(q->kernel_name_, " (M>=", PrefillRows(), ": ",
                          DequantMatmulName(in, out, 512), ")");
  return std::unique_ptr<LinearBackend>(std::move(q));
}

}  // namespace llmserve
