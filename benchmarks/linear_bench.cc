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
//
// Example: linear_bench --benchmark_filter='Streamed/1/' (threads:
// OMP_NUM_THREADS, default all cores; the kernel is named in the label).

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "benchmarks/read_bandwidth.h"
#include "engine/common/dtype.h"
#include "engine/common/host_tensor.h"
#include "engine/primitives/linear.h"

namespace llmserve {
namespace {

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
  std::vector<float> x(static_cast<size_t>(rows) * in), y(static_cast<size_t>(rows) * out);
  for (float& v : x) v = dist(rng);
  const double read_gbs = bench::MeasureReadBandwidthGBs(3);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (const auto& layer : layers) layer->Forward(x.data(), rows, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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

}  // namespace
}  // namespace llmserve
