#ifndef LLMSERVE_BENCHMARKS_READ_BANDWIDTH_H_
#define LLMSERVE_BENCHMARKS_READ_BANDWIDTH_H_

// The memory limit the benchmarks compare memory-bound kernels with, measured
// in the same run (a shared VM's bandwidth changes by the minute).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace llmserve::bench {

/// Read bandwidth in GB/s (1e9 bytes per second): a 256 MiB buffer, far
/// beyond any last-level cache, read once by all OpenMP threads (static
/// halves, vectorized XOR reduction); the best of `reps` reads.
inline double MeasureReadBandwidthGBs(int reps) {
  static std::vector<uint64_t> buf(std::size_t{256} << 20 >> 3, 0x0123456789abcdefULL);
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t x = 0;
#pragma omp parallel for reduction(^ : x) schedule(static)
    for (std::size_t i = 0; i < buf.size(); ++i) x ^= buf[i];
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, buf.size() * 8.0 / seconds / 1e9);
    if (x == 42) std::printf(" ");  // keeps the reduction alive
  }
  return best;
}

}  // namespace llmserve::bench

#endif  // LLMSERVE_BENCHMARKS_READ_BANDWIDTH_H_
