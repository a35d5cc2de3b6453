#include "engine/primitives/linear.h"

#include <dnnl.hpp>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/primitives/bf16_matmul.h"
#include "engine/primitives/dnnl_context.h"

namespace llmserve {

using dnnl::memory;

struct Linear::Impl {
  // oneDNN path.
  dnnl::matmul matmul;
  memory::desc src_md, dst_md;
  memory weights, bias;
  bool has_bias = false;
  // Own bf16 kernel path (when oneDNN has no bf16 matmul for this CPU).
  std::unique_ptr<Bf16Matrix> bf16_weight;
  std::vector<float> bf16_bias;
  bool accumulate = false;
};

namespace {

// Builds a matmul primitive descriptor with run-time M and the given weights
// descriptor (format_tag::any to let oneDNN choose). False if unsupported.
bool TryMatmulDesc(int64_t in, int64_t out, const memory::desc& weights, bool has_bias,
                   bool accumulate, dnnl::matmul::primitive_desc* pd) {
  const memory::desc src({DNNL_RUNTIME_DIM_VAL, in}, memory::data_type::f32,
                         memory::format_tag::ab);
  const memory::desc dst({DNNL_RUNTIME_DIM_VAL, out}, memory::data_type::f32,
                         memory::format_tag::ab);
  const memory::desc b({1, out}, memory::data_type::f32, memory::format_tag::ab);
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  try {
    auto desc = has_bias ? dnnl::matmul::desc(src, weights, b, dst)
                         : dnnl::matmul::desc(src, weights, dst);
    *pd = dnnl::matmul::primitive_desc(desc, attr, DnnlEngine());
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

// When the primitive prefers plain row-major weights [in, out] (the GEMM-based
// implementations do), returns the same layout with each row padded by 64
// bytes: GEMM packing walks the weights down a column, and a row stride that is
// a multiple of 1 KiB (out = 2048, 4096, 32000 ...) maps those loads to few
// cache sets. Measured with 2 threads at 32 rows: [768 → 4096] 3.7 → 1.5 ms,
// [768 → 32000] 14 → 11 ms, never slower (docs/benchmarks.md). Blocked
// layouts preferred by other implementations are kept as they are.
std::optional<memory::desc> PaddedPlainLayout(const memory::desc& preferred, int64_t in,
                                              int64_t out) {
  const dnnl_memory_desc_t& md = preferred.data;
  if (md.format_kind != dnnl_blocked || md.format_desc.blocking.inner_nblks != 0) return {};
  if (md.format_desc.blocking.strides[0] != out || md.format_desc.blocking.strides[1] != 1) {
    return {};
  }
  const int64_t pad = 64 / static_cast<int64_t>(memory::data_type_size(preferred.data_type()));
  return memory::desc({in, out}, preferred.data_type(), memory::dims{out + pad, 1});
}

}  // namespace

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
  if (weight_dtype == DType::kF16) {
    return absl::InvalidArgumentError("f16 weight storage is not supported; use f32 or bf16");
  }
  std::unique_ptr<Linear> linear(new Linear());
  linear->in_ = in;
  linear->out_ = out;
  linear->impl_state_ = std::make_unique<Impl>();
  Impl& impl = *linear->impl_state_;
  impl.accumulate = accumulate;
  impl.has_bias = !bias.empty();
  const std::vector<float> w32 = weight.ToFloat();  // [out, in]

  const memory::data_type wdt =
      weight_dtype == DType::kBF16 ? memory::data_type::bf16 : memory::data_type::f32;
  dnnl::matmul::primitive_desc pd;
  const memory::desc any_weights({in, out}, wdt, memory::format_tag::any);
  if (!TryMatmulDesc(in, out, any_weights, impl.has_bias, accumulate, &pd)) {
    if (weight_dtype != DType::kBF16) {
      return absl::InternalError(
          absl::StrCat("oneDNN cannot create an f32 matmul for [", out, ", ", in, "]"));
    }
    // No bf16 matmul in oneDNN for this CPU: own AVX2 kernel.
    impl.bf16_weight = std::make_unique<Bf16Matrix>(Bf16Matrix::FromFloat(w32.data(), out, in));
    if (impl.has_bias) impl.bf16_bias = bias.ToFloat();
    linear->weight_bytes_ = out * in * 2 + (impl.has_bias ? out * 4 : 0);
    linear->impl_ = std::string("bf16:") + Bf16MatmulIsa();
    return linear;
  }
  if (auto padded = PaddedPlainLayout(pd.weights_desc(), in, out)) {
    dnnl::matmul::primitive_desc padded_pd;
    if (TryMatmulDesc(in, out, *padded, impl.has_bias, accumulate, &padded_pd)) pd = padded_pd;
  }
  linear->impl_ = pd.impl_info_str();
  impl.matmul = dnnl::matmul(pd);
  impl.src_md = memory::desc({DNNL_RUNTIME_DIM_VAL, in}, memory::data_type::f32,
                             memory::format_tag::ab);
  impl.dst_md = memory::desc({DNNL_RUNTIME_DIM_VAL, out}, memory::data_type::f32,
                             memory::format_tag::ab);

  // Reorder the [out, in] user weight (= [in, out] with format `ba`) into the
  // primitive's preferred layout and dtype, once.
  dnnl::engine& eng = DnnlEngine();
  dnnl::stream& stream = DnnlStream();
  memory user_w({{in, out}, memory::data_type::f32, memory::format_tag::ba}, eng,
                const_cast<float*>(w32.data()));
  impl.weights = memory(pd.weights_desc(), eng);
  dnnl::reorder(user_w, impl.weights).execute(stream, user_w, impl.weights);
  if (impl.has_bias) {
    impl.bias = memory({{1, out}, memory::data_type::f32, memory::format_tag::ab}, eng);
    const std::vector<float> b32 = bias.ToFloat();
    std::copy(b32.begin(), b32.end(), static_cast<float*>(impl.bias.get_data_handle()));
  }
  stream.wait();
  linear->weight_bytes_ = static_cast<int64_t>(pd.weights_desc().get_size()) +
                          (impl.has_bias ? out * 4 : 0);
  return linear;
}

void Linear::Forward(const float* x, int64_t rows, float* y) const {
  const Impl& impl = *impl_state_;
  if (impl.bf16_weight) {
    Bf16Matmul(x, rows, *impl.bf16_weight, impl.has_bias ? impl.bf16_bias.data() : nullptr,
               impl.accumulate, y);
    return;
  }
  dnnl::engine& eng = DnnlEngine();
  memory src({{rows, in_}, memory::data_type::f32, memory::format_tag::ab}, eng,
             const_cast<float*>(x));
  memory dst({{rows, out_}, memory::data_type::f32, memory::format_tag::ab}, eng, y);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, impl.weights}, {DNNL_ARG_DST, dst}};
  if (impl.has_bias) args.emplace(DNNL_ARG_BIAS, impl.bias);
  dnnl::stream& stream = DnnlStream();
  impl.matmul.execute(stream, args);
  stream.wait();
}

}  // namespace llmserve
