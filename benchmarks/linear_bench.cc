// Linear (engine/primitives/linear.h) as a decode step runs it: each layer's
// weights streamed from memory once per call.
//
//  * BM_LinearStreamed/<dtype>/<in>/<out>/<rows>: `rows` x [in -> out] through
//    enough copies of the layer (random weights) to exceed 256 MB, so no
//    weight comes from a cache; dtype 0 = f32, 1 = bf16, 2 = q8_0, 3 = q4_0
//    (quantized at load, engine/primitives/quant_linear.h). Counters (over the
//    whole timed loop): weight GB/s read (`weight_GBs`), `GFLOPs`, the read
//    bandwidth measured right before the case (`read_GBs`, the all-threads
//    streaming read of benchmarks/read_bandwidth.h) and the fraction of it the
//    layer reached (`of_read_bw`): at 1 row a GEMV is memory-bound, so that
//    fraction is its efficiency; the gap on small layers is per-call cost.
//  * BM_Q6_KStreamed, BM_Q4_KStreamed /<in>/<out>/<rows>/<mb>: the same for
//    a Q6_K / Q4_K weight given as a GGUF file's blocks (random; Q6_K: the
//    output head of llama.cpp's Q4_0 files), over ~`mb` MB of copies: 256
//    streams from memory, 1 (one copy of a [768 -> 1024] layer) stays in L2
//    and shows the kernel's arithmetic ceiling.
//
// Example: linear_bench --benchmark_filter='Streamed/1/' (threads:
// OMP_NUM_THREADS, default all cores; the kernel is named in the label).

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "benchmarks/q4_0_widen_kernel.h"
#include "benchmarks/read_bandwidth.h"
#include "engine/common/dtype.h"
#include "engine/common/host_tensor.h"
#include "engine/primitives/linear.h"
#include "engine/primitives/quantize.h"

namespace llmserve {
namespace {

// Runs every layer's Forward on `rows` random activation rows per benchmark
// iteration and sets the counters: weight_GBs (weight bytes streamed per
// second), GFLOPs, read_GBs (the read bandwidth measured just before) and
// of_read_bw (their ratio); the label names the kernel and the threads.
void RunStreamed(benchmark::State& state, const std::vector<std::unique_ptr<Linear>>& layers,
                 int64_t in, int64_t out, int64_t rows, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  std::vector<float> x(static_cast<size_t>(rows) * in), y(static_cast<size_t>(rows) * out);
  for (float& v : x) v = dist(rng);
  const double read_gbs = bench::MeasureReadBandwidthGBs(3);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (const auto& layer : layers) layer->Forward(x.data(), rows, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double copies = static_cast<double>(layers.size());
  const double bytes = static_cast<double>(layers[0]->weight_bytes()) * copies * state.iterations();
  const double flops = 2.0 * rows * in * out * copies * state.iterations();
  const double gbs = seconds > 0 ? bytes / seconds / 1e9 : 0;
  state.counters["weight_GBs"] = gbs;
  state.counters["GFLOPs"] = seconds > 0 ? flops / seconds / 1e9 : 0;
  state.counters["read_GBs"] = read_gbs;
  state.counters["of_read_bw"] = read_gbs > 0 ? gbs / read_gbs : 0;
  state.SetLabel(layers[0]->ImplementationForRows(rows) + ", " +
                 std::to_string(omp_get_max_threads()) + " threads");
}

void BM_LinearStreamed(benchmark::State& state) {
  static const DType kDtypes[] = {DType::kF32, DType::kBF16, DType::kQ8_0, DType::kQ4_0};
  const DType dtype = kDtypes[state.range(0)];
  const int64_t in = state.range(1), out = state.range(2), rows = state.range(3);
  const double layer_bytes = static_cast<double>(DTypeRowBytes(dtype, in)) * out;
  const int copies = std::max(2, static_cast<int>(256e6 / layer_bytes));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  std::vector<std::unique_ptr<Linear>> layers;
  std::vector<float> w(static_cast<size_t>(in) * out);
  for (int c = 0; c < copies; ++c) {
    for (float& v : w) v = dist(rng);
    auto layer = Linear::Create(HostTensor::FromFloats(w, {out, in}), HostTensor(), dtype, false);
    if (!layer.ok()) {
      state.SkipWithError(std::string(layer.status().message()).c_str());
      return;
    }
    layers.push_back(*std::move(layer));
  }
  RunStreamed(state, layers, in, out, rows, rng);
}

void Shapes(benchmark::internal::Benchmark* b) {
  // GPT-2 124M's layers: attn_out, qkv, mlp_up, mlp_down, lm_head.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {768, 768}, {768, 2304}, {768, 3072}, {3072, 768}, {768, 50257}};
  for (int64_t dtype : {0, 1, 2, 3}) {
    for (const auto& [in, out] : shapes) {
      for (int64_t rows : {1, 8, 32, 512}) b->Args({dtype, in, out, rows});
    }
  }
  b->ArgNames({"dtype", "in", "out", "rows"})->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(BM_LinearStreamed)->Apply(Shapes);

// Q4_0 at one row: activations quantized to int8 + vpdpbusd (Linear, the
// engine's kernel; variant 0) against the weights widened to f32 in registers
// (q4_0_widen_kernel.h; variant 1), on the same streamed layers
// ([in -> out], > 256 MB of copies). Interleave the variants in one run.
void BM_Q4_0Batch1(benchmark::State& state) {
  const bool widen = state.range(0) == 1;
  const int64_t in = state.range(1), out = state.range(2);
  const int64_t row_bytes = DTypeRowBytes(DType::kQ4_0, in);
  const int copies = std::max(2, static_cast<int>(256e6 / (row_bytes * out)));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  std::vector<std::vector<uint8_t>> blocks(copies, std::vector<uint8_t>(row_bytes * out));
  std::vector<std::unique_ptr<Linear>> layers;
  std::vector<float> w(static_cast<size_t>(in));
  for (int c = 0; c < copies; ++c) {
    for (int64_t o = 0; o < out; ++o) {
      for (float& v : w) v = dist(rng);
      QuantizeRowQ4_0(w.data(), in, reinterpret_cast<BlockQ4_0*>(&blocks[c][o * row_bytes]));
    }
    auto owner = std::shared_ptr<const void>(blocks[c].data(), [](const void*) {});
    auto layer = Linear::Create(HostTensor::View(DType::kQ4_0, {out, in}, blocks[c].data(), owner),
                                HostTensor(), DType::kF32, false);
    if (!layer.ok()) {
      state.SkipWithError(std::string(layer.status().message()).c_str());
      return;
    }
    layers.push_back(*std::move(layer));
  }
  std::vector<float> x(in), y(out);
  for (float& v : x) v = dist(rng);
  const double read_gbs = bench::MeasureReadBandwidthGBs(3);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (int c = 0; c < copies; ++c) {
      if (widen) {
        bench::Q4_0WidenGemv(blocks[c].data(), row_bytes, in, out, x.data(), y.data());
      } else {
        layers[c]->Forward(x.data(), 1, y.data());
      }
    }
    benchmark::DoNotOptimize(y.data());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double gbs = static_cast<double>(row_bytes) * out * copies * state.iterations() / seconds / 1e9;
  state.counters["weight_GBs"] = gbs;
  state.counters["read_GBs"] = read_gbs;
  state.counters["of_read_bw"] = read_gbs > 0 ? gbs / read_gbs : 0;
  state.SetLabel(widen ? "f32xq4_0:widen_avx512" : layers[0]->ImplementationForRows(1));
}
BENCHMARK(BM_Q4_0Batch1)
    ->ArgsProduct({{0, 1}, {768}, {2304}})
    ->ArgsProduct({{0, 1}, {2048}, {768}})
    ->ArgNames({"widen", "in", "out"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A K-quant weight given to Linear as a GGUF file's tensor is: random ggml
// blocks (every bit pattern of the quants and scales, f16 d (and dmin) of
// ±0.001..0.05), ~`mb` MB of copies of [in -> out] (state ranges 0-3: in,
// out, rows, mb), `rows` activation rows. Counters as BM_LinearStreamed.
// Q6_K is how llama.cpp's "Q4_0" files keep their output head (issue #20);
// Q4_K most matrices of a Q4_K_M file.
void KQuantStreamed(benchmark::State& state, DType type) {
  const int64_t in = state.range(0), out = state.range(1), rows = state.range(2);
  const int64_t row_bytes = DTypeRowBytes(type, in);
  const int copies = std::max(1, static_cast<int>(state.range(3) * 1e6 / (row_bytes * out)));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  std::vector<std::unique_ptr<Linear>> layers;
  for (int c = 0; c < copies; ++c) {
    // Owned by the tensor: freed once Linear has repacked it.
    auto blocks = std::make_shared<std::vector<uint8_t>>(row_bytes * out);
    for (uint8_t& b : *blocks) b = static_cast<uint8_t>(rng());
    for (std::size_t off = 0; off < blocks->size(); off += DTypeBlockBytes(type)) {
      const uint16_t d = FloatToHalf(rng() % 2 ? scale(rng) : -scale(rng)), dmin = FloatToHalf(scale(rng));
      if (type == DType::kQ6_K) {
        std::memcpy(blocks->data() + off + offsetof(BlockQ6_K, d), &d, 2);
      } else {  // Q4_K: {f16 d, f16 dmin, ...}
        std::memcpy(blocks->data() + off, &d, 2);
        std::memcpy(blocks->data() + off + 2, &dmin, 2);
      }
    }
    auto layer = Linear::Create(HostTensor::View(type, {out, in}, blocks->data(), blocks),
                                HostTensor(), DType::kF32, false);
    if (!layer.ok()) {
      state.SkipWithError(std::string(layer.status().message()).c_str());
      return;
    }
    layers.push_back(*std::move(layer));
  }
  RunStreamed(state, layers, in, out, rows, rng);
}
void BM_Q6_KStreamed(benchmark::State& state) { KQuantStreamed(state, DType::kQ6_K); }
BENCHMARK(BM_Q6_KStreamed)
    ->ArgsProduct({{768}, {32000}, {1, 32}, {256}})
    ->ArgsProduct({{768}, {1024}, {1, 32}, {1}})
    ->ArgNames({"in", "out", "rows", "mb"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Q4_KStreamed(benchmark::State& state) { KQuantStreamed(state, DType::kQ4_K); }
BENCHMARK(BM_Q4_KStreamed)
    ->ArgsProduct({{768}, {2048}, {1, 32}, {256}})
    ->ArgsProduct({{768}, {1024}, {1, 32}, {1}})
    ->ArgNames({"in", "out", "rows", "mb"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace llmserve
