#include "engine/primitives/dequant_matmul.h"

#include <dnnl.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>
#include <vector>

#include "engine/primitives/bf16_convert.h"
#include "engine/primitives/dnnl_context.h"

namespace llmserve {
namespace {

using dnnl::memory;

/// Weight values dequantized at a time (16 MiB of f32): few tiles, so few
/// OpenMP regions per call (each a barrier, costly on a loaded host); a
/// multiple of 64 output rows.
constexpr int64_t kTileValues = int64_t{1} << 22;
int64_t TileRows(int64_t in, int64_t out) {
  return std::min(out, std::max<int64_t>(64, kTileValues / in / 64 * 64));
}

/// The oneDNN matmul for [rows, in] × [in, n] → [rows, n] (contiguous), with
/// the weights in the layout oneDNN prefers (`any`: the blocked layout its
/// brgemm kernels read; a plain `ba` operand makes oneDNN 2.6 fall back to
/// gemm:jit, measured ~7x slower at 512 rows). oneDNN's primitive cache
/// makes repeated creation for the same shapes cheap.
dnnl::matmul::primitive_desc Describe(memory::data_type dt, int64_t rows, int64_t in, int64_t n,
                                      bool bias, bool accumulate) {
  const memory::desc src({rows, in}, dt, memory::format_tag::ab);
  const memory::desc wei({in, n}, dt, memory::format_tag::any);
  const memory::desc dst({rows, n}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc b({1, n}, memory::data_type::f32, memory::format_tag::ab);
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  auto desc = bias ? dnnl::matmul::desc(src, wei, b, dst) : dnnl::matmul::desc(src, wei, dst);
  return dnnl::matmul::primitive_desc(desc, attr, DnnlEngine());
}

/// bf16 where oneDNN has a bf16 matmul (decided once), else f32 (exact on
/// the dequantized weights). At 512 rows of [768 → 2304] on Zen 4 the bf16
/// path ran 1.5x the f32 matmul's speed, the f32 path 0.9x
/// (docs/benchmarks.md "Quantized weights"). LLMSERVE_QUANT_PREFILL_BF16=0
/// forces f32 (A/B measurements).
bool UseBf16() {
  static const bool bf16 = [] {
    const char* env = std::getenv("LLMSERVE_QUANT_PREFILL_BF16");
    if (env != nullptr && env[0] == '0') return false;
    try {
      Describe(memory::data_type::bf16, 64, 256, 256, false, false);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return bf16;
}

struct Scratch {
  std::vector<uint16_t> x16, w16;
  std::vector<float> w32, packed, dst;
};
Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

void DequantMatmul(const DequantRowsFn& dequant_rows, int64_t in, int64_t out,
                   const float* x, int64_t rows, const float* bias, bool accumulate, float* y) {
  const bool bf16 = UseBf16();
  const memory::data_type dt = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  Scratch& s = ThreadScratch();
  const void* src = x;
  if (bf16) {
    if (s.x16.size() < static_cast<std::size_t>(rows * in)) s.x16.resize(rows * in);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) FloatToBf16(x + r * in, in, s.x16.data() + r * in);
    src = s.x16.data();
  }
  const int64_t tile = TileRows(in, out);
  if (s.w32.size() < static_cast<std::size_t>(tile * in)) s.w32.resize(tile * in);
  if (bf16 && s.w16.size() < static_cast<std::size_t>(tile * in)) s.w16.resize(tile * in);
  dnnl::engine& eng = DnnlEngine();
  dnnl::stream& stream = DnnlStream();
  for (int64_t o0 = 0; o0 < out; o0 += tile) {
    const int64_t n = std::min(tile, out - o0);
    const int64_t chunks = (n + kDequantRows - 1) / kDequantRows;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t a = c * kDequantRows, b = std::min(n, a + kDequantRows);
      dequant_rows(o0 + a, o0 + b, s.w32.data() + a * in);
      if (bf16) {
        for (int64_t o = a; o < b; ++o) FloatToBf16(s.w32.data() + o * in, in, s.w16.data() + o * in);
      }
    }
    try {
      const auto pd = Describe(dt, rows, in, n, bias != nullptr, accumulate);
      memory user_w({{in, n}, dt, memory::format_tag::ba}, eng,
                          bf16 ? static_cast<void*>(s.w16.data()) : static_cast<void*>(s.w32.data()));
      if (s.packed.size() * 4 < pd.weights_desc().get_size()) {
        s.packed.resize(pd.weights_desc().get_size() / 4 + 1);
      }
      memory wei_m(pd.weights_desc(), eng, s.packed.data());
      dnnl::reorder(user_w, wei_m).execute(stream, user_w, wei_m);
      // Columns o0.. of y: directly when the tile is all of y, else via a
      // contiguous [rows, n] buffer.
      const bool direct = n == out;
      float* d = y;
      if (!direct) {
        if (s.dst.size() < static_cast<std::size_t>(rows * n)) s.dst.resize(rows * n);
        d = s.dst.data();
        if (accumulate) {
          for (int64_t r = 0; r < rows; ++r) std::copy(y + r * out + o0, y + r * out + o0 + n, d + r * n);
        }
      }
      const memory src_m(pd.src_desc(), eng, const_cast<void*>(src));
      const memory dst_m(pd.dst_desc(), eng, d);
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC, src_m}, {DNNL_ARG_WEIGHTS, wei_m}, {DNNL_ARG_DST, dst_m}};
      if (bias != nullptr) {
        args.emplace(DNNL_ARG_BIAS, memory({{1, n}, memory::data_type::f32, memory::format_tag::ab},
                                           eng, const_cast<float*>(bias + o0)));
      }
      dnnl::matmul(pd).execute(stream, args);
      stream.wait();
      if (!direct) {
        for (int64_t r = 0; r < rows; ++r) std::copy(d + r * n, d + (r + 1) * n, y + r * out + o0);
      }
    } catch (const dnnl::error& e) {
      // Plain f32 / bf16 matmuls exist at every ISA level oneDNN runs on;
      // reaching this is a oneDNN defect, not a user error.
      std::fprintf(stderr, "llmserve: oneDNN matmul failed for quantized prefill: %s\n", e.what());
      std::abort();
    }
  }
}

std::string DequantMatmulName(int64_t in, int64_t out, int64_t rows) {
  const bool bf16 = UseBf16();
  const auto pd = Describe(bf16 ? memory::data_type::bf16 : memory::data_type::f32, rows, in,
                           TileRows(in, out), false, false);
  return std::string(bf16 ? "bf16xbf16:dequant+" : "f32xf32:dequant+") + pd.impl_info_str();
}

}  // namespace llmserve
