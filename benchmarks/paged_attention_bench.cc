// Google Benchmark of PagedAttention at the Llama-110M (stories110M) shape:
// 12 layers, 12 query heads = 12 KV heads, head_dim 64, block size 16.
// Standalone program (link llmserve_ops + benchmark::benchmark_main).
//
//  * BM_DecodeAttention/<batch>/<context>: one decode step over all 12 layers
//    (each layer its own K/V pools, like the engine), `batch` sequences of
//    `context` cached tokens with shuffled physical blocks. bytes_per_second is
//    the K+V bytes read; layer_time the time of one layer's attention (s).
//  * BM_MemoryReadBandwidth: the 256 MiB all-threads streaming read of
//    benchmarks/read_bandwidth.h, the ceiling the decode figure should be
//    compared with.
//  * BM_PrefillAttention/<tokens>: one layer's causal attention of a prompt.
//  * *_Isa variants: the same with a forced kernel ISA (0 scalar, 1 AVX2,
//    2 AVX-512; skipped when unsupported).
//
// Example: paged_attention_bench --benchmark_filter='Decode|Memory'
//          (threads: OMP_NUM_THREADS, default all cores).

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "benchmark/benchmark.h"
#include "benchmarks/read_bandwidth.h"
#include "engine/ops/paged_attention.h"
#include "engine/ops/paged_attention_kernels.h"
#include "engine/primitives/bf16_convert.h"

namespace llmserve {
namespace {

using paged_attention_internal::Isa;

constexpr int kLayers = 12;
constexpr int kHeads = 12;
constexpr int kKvHeads = 12;
constexpr int kHeadDim = 64;
constexpr int kBlockSize = 16;

AttentionDims Llama110mDims() {
  AttentionDims dims;
  dims.num_heads = kHeads;
  dims.num_kv_heads = kKvHeads;
  dims.head_dim = kHeadDim;
  dims.block_size = kBlockSize;
  dims.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  return dims;
}

/// Fills with values in [-1, 1) (a cheap LCG: setup time, not quality, matters).
void FillRandom(std::vector<float>& v, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (float& f : v) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    f = static_cast<float>(x >> 40) * 0x1p-23f - 1.0f;
  }
}

/// `layers` K/V pools (element type T: float, or uint16_t for a bf16 KV
/// cache) plus a batch of sequences with `q_len` new tokens each, whose
/// contexts (`context` tokens, new ones included) live in shuffled physical
/// blocks (the same table for every layer, as in the engine).
template <typename T = float>
struct Workload {
  AttentionDims dims = Llama110mDims();
  int num_seqs = 0;
  std::vector<std::vector<T>> key_pools, value_pools;
  std::vector<int32_t> query_start_loc, context_lens, block_tables;
  int block_table_stride = 0;
  std::vector<float> query, out;

  Workload(int layers, int batch, int context, int q_len) : num_seqs(batch) {
    const int blocks_per_seq = (context + kBlockSize - 1) / kBlockSize;
    const int num_blocks = batch * blocks_per_seq;
    block_table_stride = blocks_per_seq;
    std::vector<int32_t> physical(num_blocks);
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), std::mt19937(1));
    block_tables = physical;
    for (int s = 0; s <= batch; ++s) query_start_loc.push_back(s * q_len);
    context_lens.assign(batch, context);
    const size_t pool = size_t{static_cast<size_t>(num_blocks)} * kKvHeads * kBlockSize * kHeadDim;
    for (int l = 0; l < layers; ++l) {
      std::vector<float> k(pool), v(pool);
      FillRandom(k, 2 * l + 1);
      FillRandom(v, 2 * l + 2);
      if constexpr (std::is_same_v<T, float>) {
        key_pools.push_back(std::move(k));
        value_pools.push_back(std::move(v));
      } else {
        key_pools.emplace_back(pool);
        value_pools.emplace_back(pool);
        FloatToBf16(k.data(), static_cast<int64_t>(pool), key_pools.back().data());
        FloatToBf16(v.data(), static_cast<int64_t>(pool), value_pools.back().data());
      }
    }
    query.resize(size_t{static_cast<size_t>(batch)} * q_len * kHeads * kHeadDim);
    FillRandom(query, 99);
    out.resize(query.size());
  }

  AttentionBatch batch() const {
    AttentionBatch b;
    b.num_seqs = num_seqs;
    b.query_start_loc = query_start_loc.data();
    b.context_lens = context_lens.data();
    b.block_tables = block_tables.data();
    b.block_table_stride = block_table_stride;
    return b;
  }

  void RunLayer(int layer, const Isa* isa) {
    if (isa == nullptr) {
      PagedAttention(query.data(), kHeads * kHeadDim, batch(), dims, key_pools[layer].data(),
                     value_pools[layer].data(), out.data());
    } else {
      paged_attention_internal::PagedAttentionWithIsa(*isa, query.data(), kHeads * kHeadDim,
                                                      batch(), dims, key_pools[layer].data(),
                                                      value_pools[layer].data(), out.data());
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
};

std::string Label(const Isa* isa) {
  return std::string(paged_attention_internal::IsaName(
             isa ? *isa : paged_attention_internal::ActiveIsa())) +
         ", " + std::to_string(omp_get_max_threads()) + " threads";
}

bool SkipUnsupported(benchmark::State& state, const Isa* isa) {
  if (isa != nullptr && !paged_attention_internal::IsaSupported(*isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return true;
  }
  return false;
}

template <typename T = float>
void RunDecode(benchmark::State& state, int batch, int context, const Isa* isa) {
  if (SkipUnsupported(state, isa)) return;
  Workload<T> w(kLayers, batch, context, /*q_len=*/1);
  for (auto _ : state) {
    for (int l = 0; l < kLayers; ++l) w.RunLayer(l, isa);
  }
  const int64_t kv_bytes_per_layer =
      int64_t{batch} * context * kKvHeads * kHeadDim * int64_t{sizeof(T)} * 2;
  state.SetBytesProcessed(state.iterations() * kLayers * kv_bytes_per_layer);
  state.counters["layer_time"] = benchmark::Counter(
      kLayers, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["tokens_per_second"] =
      benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(Label(isa));
}

void RunPrefill(benchmark::State& state, int tokens, const Isa* isa) {
  if (SkipUnsupported(state, isa)) return;
  Workload<> w(/*layers=*/1, /*batch=*/1, tokens, /*q_len=*/tokens);
  for (auto _ : state) w.RunLayer(0, isa);
  // q.k and p.v: 2 multiply-adds per (head, query, attended key, dim).
  const double flops = 4.0 * kHeads * kHeadDim * (static_cast<double>(tokens) * (tokens + 1) / 2);
  state.counters["FLOPS"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens_per_second"] =
      benchmark::Counter(tokens, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(Label(isa));
}

void BM_DecodeAttention(benchmark::State& state) {
  RunDecode(state, static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), nullptr);
}
BENCHMARK(BM_DecodeAttention)
    ->ArgNames({"batch", "context"})
    ->ArgsProduct({{1, 8, 32}, {128, 512, 1024}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

/// The same over a bf16 KV cache (half the bytes per position).
void BM_DecodeAttentionBf16(benchmark::State& state) {
  RunDecode<uint16_t>(state, static_cast<int>(state.range(0)), static_cast<int>(state.range(1)),
                      nullptr);
}
BENCHMARK(BM_DecodeAttentionBf16)
    ->ArgNames({"batch", "context"})
    ->ArgsProduct({{1, 32}, {256, 1024}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_DecodeAttention_Isa(benchmark::State& state) {
  const Isa isa = static_cast<Isa>(state.range(0));
  RunDecode(state, 8, 512, &isa);
}
BENCHMARK(BM_DecodeAttention_Isa)
    ->ArgName("isa")
    ->DenseRange(0, 2)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_PrefillAttention(benchmark::State& state) {
  RunPrefill(state, static_cast<int>(state.range(0)), nullptr);
}
BENCHMARK(BM_PrefillAttention)
    ->ArgName("tokens")
    ->Arg(512)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_PrefillAttention_Isa(benchmark::State& state) {
  const Isa isa = static_cast<Isa>(state.range(0));
  RunPrefill(state, 512, &isa);
}
BENCHMARK(BM_PrefillAttention_Isa)
    ->ArgName("isa")
    ->DenseRange(0, 2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The same 256 MiB all-threads read the other benchmarks use as their memory
// limit (benchmarks/read_bandwidth.h), one read per iteration.
void BM_MemoryReadBandwidth(benchmark::State& state) {
  constexpr double kBytes = double{std::size_t{256} << 20};
  for (auto _ : state) state.SetIterationTime(kBytes / (bench::MeasureReadBandwidthGBs(1) * 1e9));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kBytes));
  state.SetLabel(std::to_string(omp_get_max_threads()) + " threads");
}
BENCHMARK(BM_MemoryReadBandwidth)->Unit(benchmark::kMillisecond)->UseManualTime();

}  // namespace
}  // namespace llmserve
