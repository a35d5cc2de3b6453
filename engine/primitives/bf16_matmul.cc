#include "engine/primitives/bf16_matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "engine/common/dtype.h"
#include "engine/common/prefetch.h"
#include "engine/primitives/avx2_math.h"

namespace llmserve {

Bf16Matrix Bf16Matrix::FromFloat(const float* values, int64_t rows, int64_t cols) {
  Bf16Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.data.resize(static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < m.data.size(); ++i) m.data[i] = FloatToBFloat16(values[i]);
  return m;
}

namespace {

// Tiling: a tile is up to kRowTile rows of x × up to kMaxColTile weight rows
// (output features), one accumulator each, so each widened weight vector
// feeds the tile's rows and each x vector its columns. 1–2 rows take 4
// columns, 3–4 rows 2 (3 from 8 rows, see ColTile): every accumulator is one
// serial FMA chain, and
// with 2 chains per tile (the former 1 × 2 tile) batch 1 was bound by the FMA
// latency, not memory (14.5 GB/s of bf16 weights streamed where the read
// bandwidth was 30; docs/benchmarks.md "AVX2 path"). Output features are
// taken in blocks of kColBlock (kColBlock × K bf16 weights stay in L2 while
// every row tile of x passes over them); blocks are spread over the OpenMP
// threads. Every output element is one dot product summed in the same order
// whatever the tiling, so a row's result does not depend on the batch.
constexpr int kRowTile = 4;
constexpr int kMaxColTile = 4;
constexpr int64_t kColBlock = 32;

// Columns per tile for a tile of `rows` rows of an m-row matmul (at most 15
// of the 16 ymm registers: accumulators + widened weights + one x vector).
// From 8 rows the kernel is compute-bound and 4 × 3 tiles (12 FMA chains
// instead of 8, which only just cover the FMA latency) run faster: standalone,
// weights in cache, 64 rows 101 -> 144 GFLOP/s, 16 rows 132 -> 149; decode
// step (LLMSERVE_CPU_ISA=avx2, bf16 GPT-2 shape) 8 sequences 23.7, 26.5, 22.9
// -> 22.3, 20.4, 21.2 ms, 12: 38.9, 33.3, 33.9 -> 29.9, 29.8, 31.6. Below, the
// 4 × 2 tiles stream the weights better (4 sequences 10.5, 12.7, 12.3 ms
// against 14.6, 13.4, 13.6 with 4 × 3).
constexpr int ColTile(int rows, int64_t m) { return rows <= 2 ? 4 : m >= 8 ? 3 : 2; }

// Portable kernel: 8 partial sums per output (the AVX2 path fuses
// multiply-add and sums its lanes in another order, so the two may differ in
// the last bits). out[r * kMaxColTile + c] = x[r] · w[c].
void DotTileGeneric(const float* x, int64_t k, int rows, const uint16_t* w, int cols,
                    float* out) {
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      const float* xr = x + r * k;
      const uint16_t* wc = w + c * k;
      int64_t i = 0;
      for (; i + 8 <= k; i += 8) {
        for (int l = 0; l < 8; ++l) acc[l] += xr[i + l] * BFloat16ToFloat(wc[i + l]);
      }
      float tail = 0;
      for (; i < k; ++i) tail += xr[i] * BFloat16ToFloat(wc[i]);
      out[r * kMaxColTile + c] =
          ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
    }
  }
}

LLMSERVE_AVX2 inline __m256 LoadBf16(const uint16_t* p) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}

// One rows × cols tile with compile-time sizes, so the accumulators stay in registers.
template <int kRows, int kCols>
LLMSERVE_AVX2 void DotTileFixed(const float* x, int64_t k, const uint16_t* w, float* out) {
  __m256 acc[kRows][kCols];
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kCols; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 wv[kCols];
    // The next tile's weights (the kCols rows after these, contiguous), 16
    // bytes per row and iteration, so the prefetch is spread over this
    // tile's loop. Without it the kCols short interleaved row streams left
    // the weights at ~15 GB/s from memory where the read bandwidth was 30
    // (docs/benchmarks.md "AVX2 path"). A prefetch past the end is harmless.
    PrefetchL1(reinterpret_cast<const char*>(w + kCols * k) + i * 2 * kCols);
    for (int c = 0; c < kCols; ++c) wv[c] = LoadBf16(w + c * k + i);
    for (int r = 0; r < kRows; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * k + i);
      for (int c = 0; c < kCols; ++c) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kCols; ++c) {
      float tail = 0;
      for (int64_t j = i; j < k; ++j) tail += x[r * k + j] * BFloat16ToFloat(w[c * k + j]);
      out[r * kMaxColTile + c] = avx2::HorizontalSum(acc[r][c]) + tail;
    }
  }
}

LLMSERVE_AVX2 void DotTileAvx2(const float* x, int64_t k, int rows, const uint16_t* w, int cols,
                               float* out) {
  static_assert(kRowTile == 4 && kMaxColTile == 4, "dispatch below covers 1..4 × 1..4");
  using Fn = void (*)(const float*, int64_t, const uint16_t*, float*);
  static constexpr Fn kTiles[kRowTile][kMaxColTile] = {
      {&DotTileFixed<1, 1>, &DotTileFixed<1, 2>, &DotTileFixed<1, 3>, &DotTileFixed<1, 4>},
      {&DotTileFixed<2, 1>, &DotTileFixed<2, 2>, &DotTileFixed<2, 3>, &DotTileFixed<2, 4>},
      {&DotTileFixed<3, 1>, &DotTileFixed<3, 2>, &DotTileFixed<3, 3>, nullptr},
      {&DotTileFixed<4, 1>, &DotTileFixed<4, 2>, &DotTileFixed<4, 3>, nullptr}};
  kTiles[rows - 1][cols - 1](x, k, w, out);
}

using DotTileFn = void (*)(const float*, int64_t, int, const uint16_t*, int, float*);

DotTileFn Kernel() { return avx2::CpuHasAvx2Fma() ? DotTileAvx2 : DotTileGeneric; }

}  // namespace

const char* Bf16MatmulIsa() { return Kernel() == DotTileAvx2 ? "avx2" : "generic"; }

void Bf16Matmul(const float* x, int64_t m, const Bf16Matrix& w, const float* bias,
                bool accumulate, float* y) {
  const int64_t n_out = w.rows, k = w.cols;
  const DotTileFn dot = Kernel();
  const int64_t num_blocks = (n_out + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static)
  for (int64_t block = 0; block < num_blocks; ++block) {
    const int64_t n_end = std::min(n_out, (block + 1) * kColBlock);
    for (int64_t i0 = 0; i0 < m; i0 += kRowTile) {
      const int rows = static_cast<int>(std::min<int64_t>(kRowTile, m - i0));
      const int col_tile = ColTile(rows, m);
      for (int64_t n = block * kColBlock; n < n_end; n += col_tile) {
        const int cols = static_cast<int>(std::min<int64_t>(col_tile, n_end - n));
        float out[kRowTile * kMaxColTile];
        dot(x + i0 * k, k, rows, w.data.data() + n * k, cols, out);
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < cols; ++c) {
            const float b = bias != nullptr ? bias[n + c] : 0.0f;
            const float v = out[r * kMaxColTile + c];
            float* dst = y + (i0 + r) * n_out + n + c;
            *dst = accumulate ? *dst + (v + b) : v + b;
          }
        }
      }
    }
  }
}

}  // namespace llmserve
