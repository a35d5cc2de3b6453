#include "engine/primitives/dnnl_linear.h"

#include <dnnl.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/cpu_isa.h"
#include "engine/common/huge_page_buffer.h"
#include "engine/primitives/bf16_convert.h"
#include "engine/primitives/blocked_gemv.h"
#include "engine/primitives/dnnl_context.h"
#include "engine/primitives/plain_gemv.h"

namespace llmserve {

using dnnl::memory;

namespace {

/// Row count at which the reference primitive (and implementation()) is made.
constexpr int64_t kReferenceRows = 32;
/// Rows per primitive call; larger inputs run in chunks of this many rows.
constexpr int64_t kMaxPrimitiveRows = 512;
/// Rows up to which primitives are made for the exact row count.
constexpr int64_t kExactRows = 64;

}  // namespace

struct DnnlState {
  // oneDNN backends.
  memory::data_type src_dt = memory::data_type::f32;
  memory::desc weights_md;
  HugePageBuffer weight_buffer;  // backs `weights` (blocked and plain layouts)
  memory weights, bias;
  bool has_bias = false;
  bool accumulate = false;
  bool runtime_rows = false;  // plain layout: one primitive with a run-time M
  dnnl::matmul runtime_matmul;
  std::string runtime_impl;  // its oneDNN impl_info_str
  mutable absl::Mutex mu;
  struct Entry {
    dnnl::matmul matmul;
    std::string impl;  // oneDNN's impl_info_str
  };
  mutable absl::flat_hash_map<int64_t, Entry> by_rows ABSL_GUARDED_BY(mu);
  // Few-row matmuls with an own GEMV: kF32 / kBf16 on the AVX-512 blocked
  // weights (blocked_gemv.h), kF32Plain on the plain layout (plain_gemv.h).
  enum class Gemv { kNone, kF32, kBf16, kF32Plain } gemv = Gemv::kNone;
  /// True if Run uses the own GEMV for `rows` rows.
  bool UsesGemv(int64_t rows) const {
    if (gemv == Gemv::kF32Plain) return rows >= kMinPlainGemvRows && rows <= kMaxPlainGemvRows;
    return gemv != Gemv::kNone && rows <= llmserve::GemvMaxRows(gemv == Gemv::kBf16);
  }
  /// GEMV implementation name ("f32xf32:own_gemv_avx512" ...).
  const char* GemvName() const {
    return gemv == Gemv::kBf16      ? "bf16xbf16:own_gemv_avx512_bf16"
           : gemv == Gemv::kF32Plain ? "f32xf32:own_gemv_avx2"
                                     : "f32xf32:own_gemv_avx512";
  }
  int64_t padded_k = 0;
  int64_t plain_ld = 0;  // kF32Plain: the weight row stride in floats

  /// Primitive descriptor for `rows` rows (DNNL_RUNTIME_DIM_VAL for run-time M)
  /// with weights `w`; nullopt if oneDNN has no implementation.
  std::optional<dnnl::matmul::primitive_desc> Describe(int64_t rows, int64_t in, int64_t out,
                                                       const memory::desc& w) const {
    const memory::desc src({rows, in}, src_dt, memory::format_tag::ab);
    const memory::desc dst({rows, out}, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc b({1, out}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::primitive_attr attr;
    if (accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    try {
      auto desc = has_bias ? dnnl::matmul::desc(src, w, b, dst) : dnnl::matmul::desc(src, w, dst);
      return dnnl::matmul::primitive_desc(desc, attr, DnnlEngine());
    } catch (const dnnl::error&) {
      return std::nullopt;
    }
  }

  /// The primitive for exactly `rows` rows with the packed weight layout.
  Entry ForRows(int64_t rows, int64_t in, int64_t out) const {
    absl::MutexLock lock(&mu);
    auto it = by_rows.find(rows);
    if (it != by_rows.end()) return it->second;
    std::optional<dnnl::matmul::primitive_desc> pd = Describe(rows, in, out, weights_md);
    if (!pd) {
      // The layout was chosen by oneDNN for these shapes; it accepts it for
      // every M. Reaching this is a oneDNN defect, not a user error.
      std::fprintf(stderr, "llmserve: oneDNN has no matmul for [%lld x %lld] x [%lld x %lld]\n",
                   static_cast<long long>(rows), static_cast<long long>(in),
                   static_cast<long long>(in), static_cast<long long>(out));
      std::abort();
    }
    return by_rows.emplace(rows, Entry{dnnl::matmul(*pd), pd->impl_info_str()}).first->second;
  }
};

namespace {

// When the primitive prefers plain row-major weights [in, out] (the GEMM-based
// implementations do), returns the same layout with each row padded by 64
// bytes: GEMM packing walks the weights down a column, and a row stride that is
// a multiple of 1 KiB (out = 2048, 4096, 32000 ...) maps those loads to few
// cache sets. Measured with 2 threads at 32 rows: [768 → 4096] 3.7 → 1.5 ms,
// [768 → 32000] 14 → 11 ms, never slower (docs/benchmarks.md).
memory::desc PaddedPlainLayout(const memory::desc& preferred, int64_t in, int64_t out) {
  const int64_t pad = 64 / static_cast<int64_t>(memory::data_type_size(preferred.data_type()));
  return memory::desc({in, out}, preferred.data_type(), memory::dims{out + pad, 1});
}

// The own GEMV for M <= GemvMaxRows(bf16) when the weights
// are in the AVX-512 brgemm layout it reads (BA16a64b f32, BA16a64b2a bf16;
// see blocked_gemv.h) and the CPU-ISA level allows it. LLMSERVE_LINEAR_GEMV=0
// keeps oneDNN at small M (for A/B measurements).
int /*Impl::Gemv*/ ChooseGemv(const memory::desc& md, bool bf16) {
  if (const char* env = std::getenv("LLMSERVE_LINEAR_GEMV"); env != nullptr && env[0] == '0') {
    return 0;
  }
  if (!CpuIsaAtLeast(CpuIsa::kAvx512)) return 0;
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.offset0 != 0) return 0;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  const int64_t padded_k = d.padded_dims[0];
  if (b.strides[1] != padded_k * 64) return 0;
  if (!bf16 && b.inner_nblks == 2 && b.inner_blks[0] == 16 && b.inner_blks[1] == 64 &&
      b.inner_idxs[0] == 0 && b.inner_idxs[1] == 1 && b.strides[0] == 1024 && padded_k % 16 == 0) {
    return 1;
  }
  if (bf16 && CpuHasAvx512Bf16() && b.inner_nblks == 3 && b.inner_blks[0] == 16 &&
      b.inner_blks[1] == 64 && b.inner_blks[2] == 2 && b.inner_idxs[0] == 0 &&
      b.inner_idxs[1] == 1 && b.inner_idxs[2] == 0 && b.strides[0] == 2048 && padded_k % 32 == 0) {
    return 2;
  }
  return 0;
}

// The AVX2 GEMV (plain_gemv.h) for kMinPlainGemvRows..kMaxPlainGemvRows rows
// on the padded plain f32 layout of the GEMM-based implementations (below
// AVX-512), whose run-time-M `gemm:jit` is slow there. Returns the row stride
// in floats (0: not applicable). LLMSERVE_LINEAR_GEMV=0 keeps oneDNN.
int64_t ChoosePlainGemv(const memory::desc& md, int64_t out) {
  if (const char* env = std::getenv("LLMSERVE_LINEAR_GEMV"); env != nullptr && env[0] == '0') {
    return 0;
  }
  if (!CpuIsaAtLeast(CpuIsa::kAvx2) || md.data_type() != memory::data_type::f32) return 0;
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.offset0 != 0 || d.format_desc.blocking.inner_nblks != 0 ||
      d.format_desc.blocking.strides[1] != 1) {
    return 0;
  }
  // The kernel reads whole 8-float vectors: the last one may run into the pad.
  const int64_t ld = d.format_desc.blocking.strides[0];
  return ld >= (out + 7) / 8 * 8 ? ld : 0;
}

bool IsPlainRowMajor(const memory::desc& md, int64_t out) {
  const dnnl_memory_desc_t& d = md.data;
  return d.format_kind == dnnl_blocked && d.format_desc.blocking.inner_nblks == 0 &&
         d.format_desc.blocking.strides[0] == out && d.format_desc.blocking.strides[1] == 1;
}

template <typename T>
T* Grow(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Per-thread scratch for padded / converted operands.
struct Scratch {
  std::vector<uint16_t> src16;
  std::vector<float> src32, dst;
};
Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

// bf16 rows of `x` [rows, n] into out; parallel over rows for large inputs.
void RowsToBf16(const float* x, int64_t rows, int64_t n, uint16_t* out) {
#pragma omp parallel for schedule(static) if (rows * n >= (1 << 16))
  for (int64_t r = 0; r < rows; ++r) FloatToBf16(x + r * n, n, out + r * n);
}

}  // namespace

class DnnlLinear final : public LinearBackend {
 public:
  DnnlLinear(int64_t in, int64_t out, bool bf16) : in_(in), out_(out), bf16_(bf16) {}
  void Forward(const float* x, int64_t rows, float* y) const override {
    Run(x, /*x_is_bf16=*/false, rows, y);
  }
  void ForwardBf16(const uint16_t* x, int64_t rows, float* y) const override {
    Run(x, /*x_is_bf16=*/true, rows, y);
  }
  DType input_dtype() const override { return bf16_ ? DType::kBF16 : DType::kF32; }
  DType weight_dtype() const override { return bf16_ ? DType::kBF16 : DType::kF32; }
  LinearBackendKind kind() const override {
    return bf16_ ? LinearBackendKind::kDnnlBf16 : LinearBackendKind::kDnnlF32;
  }
  int64_t weight_bytes() const override { return weight_bytes_; }
  const std::string& implementation() const override { return impl_; }
  std::string ImplementationForRows(int64_t rows) const override;

 private:
  friend absl::StatusOr<std::unique_ptr<LinearBackend>> CreateDnnlLinear(
      const std::vector<float>&, int64_t, int64_t, const std::vector<float>&, bool, bool);
  void Run(const void* x, bool x_is_bf16, int64_t rows, float* y) const;
  DnnlState st_;
  int64_t in_, out_;
  bool bf16_;
  int64_t weight_bytes_ = 0;
  std::string impl_;
};

int64_t DnnlPaddedRows(int64_t rows) {
  if (rows <= kExactRows) return rows;
  return (rows + kExactRows - 1) / kExactRows * kExactRows;
}

absl::StatusOr<std::unique_ptr<LinearBackend>> CreateDnnlLinear(const std::vector<float>& w32,
                                                                int64_t out, int64_t in,
                                                                const std::vector<float>& bias,
                                                                bool bf16, bool accumulate) {
  std::unique_ptr<DnnlLinear> linear(new DnnlLinear(in, out, bf16));
  DnnlState& impl = linear->st_;
  impl.accumulate = accumulate;
  impl.has_bias = !bias.empty();
  const memory::data_type dt = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  impl.src_dt = dt;
  const memory::desc any_weights({in, out}, dt, memory::format_tag::any);
  std::optional<dnnl::matmul::primitive_desc> pd =
      impl.Describe(kReferenceRows, in, out, any_weights);
  if (!pd) {
    if (!bf16) {
      return absl::InternalError(
          absl::StrCat("oneDNN cannot create an f32 matmul for [", out, ", ", in, "]"));
    }
    // No bf16 matmul in oneDNN at this ISA level: the caller chooses another backend.
    return std::unique_ptr<LinearBackend>();
  }
  const std::string prefix = bf16 ? "bf16xbf16:" : "f32xf32:";
  if (IsPlainRowMajor(pd->weights_desc(), out)) {
    // GEMM-based implementation: one run-time-M primitive, padded plain rows.
    impl.runtime_rows = true;
    std::optional<dnnl::matmul::primitive_desc> rt =
        impl.Describe(DNNL_RUNTIME_DIM_VAL, in, out, PaddedPlainLayout(pd->weights_desc(), in, out));
    if (!rt) rt = impl.Describe(DNNL_RUNTIME_DIM_VAL, in, out, any_weights);
    if (!rt) {
      return absl::InternalError(
          absl::StrCat("oneDNN cannot create a run-time-M matmul for [", out, ", ", in, "]"));
    }
    pd = rt;
    impl.runtime_matmul = dnnl::matmul(*pd);
    impl.runtime_impl = pd->impl_info_str();
  } else {
    absl::MutexLock lock(&impl.mu);
    impl.by_rows.emplace(kReferenceRows, DnnlState::Entry{dnnl::matmul(*pd), pd->impl_info_str()});
  }
  impl.weights_md = pd->weights_desc();
  linear->impl_ = prefix + pd->impl_info_str();
  if (impl.runtime_rows) {
    impl.plain_ld = bf16 ? 0 : ChoosePlainGemv(impl.weights_md, out);
    if (impl.plain_ld > 0) {
      impl.gemv = DnnlState::Gemv::kF32Plain;
      linear->impl_ += absl::StrCat(" (", kMinPlainGemvRows, "<=M<=", kMaxPlainGemvRows,
                                    ": own_gemv_avx2)");
    }
  } else {
    impl.gemv = static_cast<DnnlState::Gemv>(ChooseGemv(impl.weights_md, bf16));
    impl.padded_k = impl.weights_md.data.padded_dims[0];
    if (impl.gemv != DnnlState::Gemv::kNone) {
      linear->impl_ += absl::StrCat(" (M<=", GemvMaxRows(bf16),
                                    bf16 ? ": own_gemv_avx512_bf16)" : ": own_gemv_avx512)");
    }
  }

  // Reorder the [out, in] user weight (= [in, out] with format `ba`) into the
  // primitive's layout and dtype, once.
  dnnl::engine& eng = DnnlEngine();
  dnnl::stream& stream = DnnlStream();
  memory user_w({{in, out}, memory::data_type::f32, memory::format_tag::ba}, eng,
                const_cast<float*>(w32.data()));
  // In 2 MiB pages where the kernel allows: the GEMV streams these every
  // decode step; batch-1 steps 4-13 % faster than in 4 KiB pages
  // (docs/benchmarks.md, "Weights in 2 MiB pages").
  absl::StatusOr<HugePageBuffer> buffer = HugePageBuffer::Allocate(impl.weights_md.get_size());
  if (!buffer.ok()) return buffer.status();
  impl.weight_buffer = *std::move(buffer);
  impl.weights = memory(impl.weights_md, eng, impl.weight_buffer.data());
  dnnl::reorder(user_w, impl.weights).execute(stream, user_w, impl.weights);
  if (impl.has_bias) {
    impl.bias = memory({{1, out}, memory::data_type::f32, memory::format_tag::ab}, eng);
    std::copy(bias.begin(), bias.end(), static_cast<float*>(impl.bias.get_data_handle()));
  }
  stream.wait();
  linear->weight_bytes_ = static_cast<int64_t>(impl.weights_md.get_size()) +
                          (impl.has_bias ? out * 4 : 0);
  return std::unique_ptr<LinearBackend>(std::move(linear));
}

std::string DnnlLinear::ImplementationForRows(int64_t rows) const {
  const DnnlState& impl = st_;
  if (impl.UsesGemv(rows)) return impl.GemvName();
  if (impl.runtime_rows) {
    return (bf16_ ? "bf16xbf16:" : "f32xf32:") + impl.runtime_impl;
  }
  const DnnlState::Entry e = impl.ForRows(DnnlPaddedRows(std::min(rows, kMaxPrimitiveRows)), in_, out_);
  const std::string prefix = bf16_ ? "bf16xbf16:" : "f32xf32:";
  return prefix + e.impl;
}

void DnnlLinear::Run(const void* x, bool x_is_bf16, int64_t rows, float* y) const {
  const DnnlState& impl = st_;
  const bool want_bf16 = impl.src_dt == memory::data_type::bf16;
  if (x_is_bf16 && !want_bf16) {
    std::fprintf(stderr, "llmserve: Linear::ForwardBf16 on an f32-input backend\n");
    std::abort();
  }
  Scratch& scratch = ThreadScratch();
  dnnl::engine& eng = DnnlEngine();
  dnnl::stream& stream = DnnlStream();
  const std::size_t src_elem = want_bf16 ? 2 : 4;

  // Execute one primitive on [m, in] → [m, out] buffers that hold m rows.
  const auto execute = [&](const dnnl::matmul& prim, int64_t m, const void* src, float* dst) {
    memory src_mem({{m, in_}, impl.src_dt, memory::format_tag::ab}, eng, const_cast<void*>(src));
    memory dst_mem({{m, out_}, memory::data_type::f32, memory::format_tag::ab}, eng, dst);
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, impl.weights}, {DNNL_ARG_DST, dst_mem}};
    if (impl.has_bias) args.emplace(DNNL_ARG_BIAS, impl.bias);
    prim.execute(stream, args);
    stream.wait();
  };

  if (impl.UsesGemv(rows)) {
    const float* bias = impl.has_bias ? static_cast<const float*>(impl.bias.get_data_handle()) : nullptr;
    if (impl.gemv == DnnlState::Gemv::kF32Plain) {
      GemvPlainF32(static_cast<const float*>(x), static_cast<int>(rows),
                   static_cast<const float*>(impl.weights.get_data_handle()), in_, impl.plain_ld,
                   out_, bias, impl.accumulate, y);
      return;
    }
    if (impl.gemv == DnnlState::Gemv::kF32) {
      GemvBlockedF32(static_cast<const float*>(x), static_cast<int>(rows),
                     static_cast<const float*>(impl.weights.get_data_handle()), in_, impl.padded_k,
                     out_, bias, impl.accumulate, y);
      return;
    }
    const uint16_t* x16 = static_cast<const uint16_t*>(x);
    if (!x_is_bf16) {
      uint16_t* s = Grow(scratch.src16, static_cast<std::size_t>(rows * in_));
      FloatToBf16(static_cast<const float*>(x), rows * in_, s);
      x16 = s;
    }
    GemvBlockedBf16(x16, static_cast<int>(rows),
                    static_cast<const uint16_t*>(impl.weights.get_data_handle()), in_, impl.padded_k,
                    out_, bias, impl.accumulate, y);
    return;
  }
  if (impl.runtime_rows) {
    const void* src = x;
    if (want_bf16 && !x_is_bf16) {
      uint16_t* s = Grow(scratch.src16, static_cast<std::size_t>(rows * in_));
      RowsToBf16(static_cast<const float*>(x), rows, in_, s);
      src = s;
    }
    execute(impl.runtime_matmul, rows, src, y);
    return;
  }

  for (int64_t start = 0; start < rows; start += kMaxPrimitiveRows) {
    const int64_t m = std::min(kMaxPrimitiveRows, rows - start);
    const int64_t mp = DnnlPaddedRows(m);
    const dnnl::matmul prim = impl.ForRows(mp, in_, out_).matmul;
    const char* xs = static_cast<const char*>(x) + start * in_ * (x_is_bf16 ? 2 : 4);
    float* ys = y + start * out_;
    const void* src = xs;
    if (want_bf16 && !x_is_bf16) {
      uint16_t* s = Grow(scratch.src16, static_cast<std::size_t>(mp * in_));
      RowsToBf16(reinterpret_cast<const float*>(xs), m, in_, s);
      std::memset(s + m * in_, 0, (mp - m) * in_ * 2);
      src = s;
    } else if (mp != m) {
      char* s = reinterpret_cast<char*>(Grow(scratch.src32, static_cast<std::size_t>(mp * in_)));
      std::memcpy(s, xs, m * in_ * src_elem);
      std::memset(s + m * in_ * src_elem, 0, (mp - m) * in_ * src_elem);
      src = s;
    }
    if (mp == m) {
      execute(prim, m, src, ys);
      continue;
    }
    float* d = Grow(scratch.dst, static_cast<std::size_t>(mp * out_));
    if (impl.accumulate) {
      std::memcpy(d, ys, m * out_ * sizeof(float));
      std::memset(d + m * out_, 0, (mp - m) * out_ * sizeof(float));
    }
    execute(prim, mp, src, d);
    std::memcpy(ys, d, m * out_ * sizeof(float));
  }
}

}  // namespace llmserve
