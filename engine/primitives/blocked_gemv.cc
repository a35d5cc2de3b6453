// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own
// _mm512_undefined_*() (GCC PR 105593); silence it here.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "engine/primitives/blocked_gemv.h"

#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "engine/common/cpu_isa.h"
#include "engine/common/prefetch.h"

namespace llmserve {
namespace {

constexpr int64_t kBlockN = 64;

// A bf16 pair read as one 32-bit lane (the activations are bf16 arrays).
typedef int32_t AliasedInt32 __attribute__((may_alias));

// With more than 4 rows, k runs in chunks of this many weight bytes per
// block (16 KiB: 64 k of f32, 128 k of bf16): every row group runs on a
// chunk while it is in L1, and all groups together prefetch the next chunk
// into L2 (see Prefetch), so the weight stream from memory overlaps the
// arithmetic of all groups. Without it the first group waited for memory and
// the others computed while memory idled. Measured (Zen 4, docs/benchmarks.md
// "Which kernel at which row count"): 8 and 32 KiB no better, 4 KiB worse.
constexpr int64_t kChunkBytes = 16384;

// Writes one row's 64 sums of column block n0 (fewer at the last block).
// Full blocks in four 16-float vectors: a generic loop became a memcpy call
// per row and block (~1 % of a 32-sequence decode step, 25,000 calls for
// GPT-2's LM head alone).
__attribute__((target("avx512f"))) void Store(const float* sums, int64_t n0, int64_t n,
                                              const float* bias, bool accumulate, float* y) {
  if (n - n0 >= kBlockN) {
    for (int i = 0; i < kBlockN / 16; ++i) {
      __m512 v = _mm512_loadu_ps(sums + 16 * i);
      if (bias != nullptr) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + n0 + 16 * i));
      float* out = y + n0 + 16 * i;
      _mm512_storeu_ps(out, accumulate ? _mm512_add_ps(_mm512_loadu_ps(out), v) : v);
    }
    return;
  }
  const int64_t cols = n - n0;
  for (int64_t j = 0; j < cols; ++j) {
    float v = sums[j];
    if (bias != nullptr) v += bias[n0 + j];
    y[n0 + j] = accumulate ? y[n0 + j] + v : v;
  }
}

// The part of the next chunk's weights one row group prefetches into L2:
// `per_step` 64-byte lines at each of its steps (a k, or a bf16 pair), the
// first `count` lines from `begin`. Spread evenly over all groups' steps so
// that no burst of prefetches fills the L1 miss buffers. A prefetch past the
// weights' end is harmless (it never faults).
struct Prefetch {
  const char* begin = nullptr;
  int64_t count = 0;
  int64_t per_step = 0;
  inline void Issue(int64_t step) const {
    for (int64_t j = 0; j < per_step; ++j) {
      const int64_t line = step * per_step + j;
      if (line < count) PrefetchL2(begin + line * 64);
    }
  }
};

// kRows rows at once, so each weight vector loaded feeds kRows FMAs, over k
// in [k0, k1) of one 64-column block `wb` (its weights contiguous over k, 64
// floats per k). The 4 accumulators of each row start from zero (k0 == 0) or
// from `part` ([kRows, 64], where the previous chunk left them) and are
// stored back there. Per output element one accumulator chain over k in
// order: a row's result depends neither on kRows nor on the chunking.
// `pf` prefetches part of the next chunk (see Prefetch).
template <int kRows>
__attribute__((target("avx512f"))) void F32Chunk(const float* x, int64_t k, const float* wb,
                                                 int64_t k0, int64_t k1, const Prefetch& pf,
                                                 float* part) {
  __m512 acc[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int i = 0; i < 4; ++i) {
      acc[r][i] = k0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(part + r * kBlockN + 16 * i);
    }
  }
  for (int64_t kk = k0; kk < k1; ++kk) {
    const float* row = wb + kk * kBlockN;  // = (kk / 16)·1024 + (kk % 16)·64
    pf.Issue(kk - k0);
    __m512 wv[4];
    for (int i = 0; i < 4; ++i) wv[i] = _mm512_loadu_ps(row + 16 * i);
    for (int r = 0; r < kRows; ++r) {
      const __m512 xv = _mm512_set1_ps(x[r * k + kk]);
      for (int i = 0; i < 4; ++i) acc[r][i] = _mm512_fmadd_ps(xv, wv[i], acc[r][i]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int i = 0; i < 4; ++i) _mm512_store_ps(part + r * kBlockN + 16 * i, acc[r][i]);
  }
}

// The bf16 pair (x[2p], x[2p + 1]) as one 32-bit lane (0 past k).
inline int PairBits(const uint16_t* x, int64_t k, int64_t p) {
  uint32_t bits = x[2 * p];
  if (2 * p + 1 < k) bits |= static_cast<uint32_t>(x[2 * p + 1]) << 16;
  return static_cast<int>(bits);
}

// F32Chunk for bf16: k in [k0, k1) with k0 and k1 even (or k1 = k); pair p
// holds k = 2p, 2p + 1 for all 64 columns, 128 bf16 = 4 vectors.
template <int kRows>
__attribute__((target("avx512f,avx512bf16"))) void Bf16Chunk(const uint16_t* x, int64_t k,
                                                             const uint16_t* wb, int64_t k0,
                                                             int64_t k1, const Prefetch& pf,
                                                             float* part) {
  __m512 acc[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int i = 0; i < 4; ++i) {
      acc[r][i] = k0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(part + r * kBlockN + 16 * i);
    }
  }
  const int64_t p1 = (k1 + 1) / 2;
  for (int64_t p = k0 / 2; p < p1; ++p) {
    const uint16_t* row = wb + p * 2 * kBlockN;  // = (p / 16)·2048 + (p % 16)·128
    pf.Issue(p - k0 / 2);
    __m512bh wv[4];
    for (int i = 0; i < 4; ++i) {
      wv[i] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(row + 32 * i));
    }
    for (int r = 0; r < kRows; ++r) {
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_set1_epi32(PairBits(x + r * k, k, p)));
      for (int i = 0; i < 4; ++i) acc[r][i] = _mm512_dpbf16_ps(acc[r][i], xv, wv[i]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int i = 0; i < 4; ++i) _mm512_store_ps(part + r * kBlockN + 16 * i, acc[r][i]);
  }
}

// Groups of 4 rows (every group of a chunked call but the last) with the
// activation as the multiply-add's embedded broadcast operand ({1to16}, a
// load µop only). GCC 12 instead emits a separate broadcast per row and step
// (bf16: from a general register, after assembling the pair there), which
// costs FP-pipe slots the multiply-adds need once the weights are in cache:
// standalone, 32 rows in cache 400 -> 435 GFLOP/s bf16 (peak ~450) and
// 205 -> 218 f32 (peak ~225), weights from memory 368 -> 396 / 181 -> 191
// (Zen 4, docs/benchmarks.md "Which kernel at which row count"). Hence inline
// assembly; the arithmetic is the intrinsic kernels' (multiplication
// commutes, same accumulation order), bitwise.

// a[i] += w[i] · x at xa, b[i] += w[i] · x at xb, i < 4: for f32 x a fused
// multiply-add (vfmadd231ps), for a bf16 pair x (AliasedInt32) a pair dot
// product (vdpbf16ps; the assembler needs no compiler target for it, callers
// run it only on CPUs with AVX512_BF16). The macro only spells the one asm
// statement for either instruction.
template <typename X>
__attribute__((target("avx512f"), always_inline)) inline void TwoRows(
    __m512& a0, __m512& a1, __m512& a2, __m512& a3, __m512& b0, __m512& b1, __m512& b2, __m512& b3,
    const __m512 (&w)[4], const X* xa, const X* xb) {
#define LLMSERVE_TWO_ROWS(op)                                                                    \
  asm(op " %[xa]%{1to16%}, %[w0], %[a0]\n\t" op " %[xa]%{1to16%}, %[w1], %[a1]\n\t" op          \
         " %[xa]%{1to16%}, %[w2], %[a2]\n\t" op " %[xa]%{1to16%}, %[w3], %[a3]\n\t" op           \
         " %[xb]%{1to16%}, %[w0], %[b0]\n\t" op " %[xb]%{1to16%}, %[w1], %[b1]\n\t" op           \
         " %[xb]%{1to16%}, %[w2], %[b2]\n\t" op " %[xb]%{1to16%}, %[w3], %[b3]"                   \
      : [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [b0] "+v"(b0), [b1] "+v"(b1), \
        [b2] "+v"(b2), [b3] "+v"(b3)                                                             \
      : [w0] "v"(w[0]), [w1] "v"(w[1]), [w2] "v"(w[2]), [w3] "v"(w[3]), [xa] "m"(*xa),            \
        [xb] "m"(*xb))
  if constexpr (std::is_same_v<X, float>) {
    LLMSERVE_TWO_ROWS("vfmadd231ps");
  } else {
    LLMSERVE_TWO_ROWS("vdpbf16ps");
  }
#undef LLMSERVE_TWO_ROWS
}

// Accumulator vector v (row v / 4, columns 16·(v % 4)..) of a group from
// `part` ([4, 64]), or zero.
__attribute__((target("avx512f"), always_inline)) inline __m512 LoadAcc(const float* part, int v,
                                                                        bool zero) {
  return zero ? _mm512_setzero_ps() : _mm512_load_ps(part + 16 * v);
}

// F32Chunk<4> / Bf16Chunk<4> (bf16: even k, so every pair is two bf16 in
// memory) through TwoRows.
template <typename T>
__attribute__((target("avx512f"))) void FourRowsChunk(const T* x, int64_t k, const T* wb,
                                                      int64_t k0, int64_t k1, const Prefetch& pf,
                                                      float* part) {
  // 16 named accumulators (an array would live in memory around the asm).
  const bool zero = k0 == 0;
  __m512 a00 = LoadAcc(part, 0, zero), a01 = LoadAcc(part, 1, zero), a02 = LoadAcc(part, 2, zero),
         a03 = LoadAcc(part, 3, zero), a10 = LoadAcc(part, 4, zero), a11 = LoadAcc(part, 5, zero),
         a12 = LoadAcc(part, 6, zero), a13 = LoadAcc(part, 7, zero), a20 = LoadAcc(part, 8, zero),
         a21 = LoadAcc(part, 9, zero), a22 = LoadAcc(part, 10, zero), a23 = LoadAcc(part, 11, zero),
         a30 = LoadAcc(part, 12, zero), a31 = LoadAcc(part, 13, zero),
         a32 = LoadAcc(part, 14, zero), a33 = LoadAcc(part, 15, zero);
  constexpr bool kBf16 = sizeof(T) == 2;
  // A step is one k (f32) or one pair (bf16): 4 vectors of weights either way.
  const int64_t s0 = kBf16 ? k0 / 2 : k0, s1 = kBf16 ? k1 / 2 : k1;
  for (int64_t s = s0; s < s1; ++s) {
    const char* row = reinterpret_cast<const char*>(wb) + s * 4 * 64;
    pf.Issue(s - s0);
    __m512 w[4];
    for (int i = 0; i < 4; ++i) w[i] = _mm512_loadu_ps(row + 64 * i);
    if constexpr (kBf16) {
      const auto* x0 = reinterpret_cast<const AliasedInt32*>(x) + s;
      const int64_t stride = k / 2;
      TwoRows(a00, a01, a02, a03, a10, a11, a12, a13, w, x0, x0 + stride);
      TwoRows(a20, a21, a22, a23, a30, a31, a32, a33, w, x0 + 2 * stride, x0 + 3 * stride);
    } else {
      const float* x0 = x + s;
      TwoRows(a00, a01, a02, a03, a10, a11, a12, a13, w, x0, x0 + k);
      TwoRows(a20, a21, a22, a23, a30, a31, a32, a33, w, x0 + 2 * k, x0 + 3 * k);
    }
  }
  const __m512 acc[16] = {a00, a01, a02, a03, a10, a11, a12, a13,
                          a20, a21, a22, a23, a30, a31, a32, a33};
  for (int v = 0; v < 16; ++v) _mm512_store_ps(part + 16 * v, acc[v]);
}

// All rows, per 64-column block, in groups of up to 4 (each weight vector
// loaded feeds 4 rows). Up to 4 rows: one pass over the block's k. More:
// k in chunks of kChunkBytes, all groups per chunk (see kChunkBytes).
// `chunk(std::integral_constant<int, R>, x_rows, wb, k0, k1, pf,
// part)` runs one group of R rows (F32Chunk / Bf16Chunk). The OpenMP loop
// lives here, outside the AVX-512 functions (clang does not carry a target
// attribute into the region it outlines).
template <typename T, typename ChunkFn>
void RowsInGroups(const T* x, int rows, const T* w, int64_t k, int64_t padded_k, int64_t n,
                  const float* bias, bool accumulate, float* y, ChunkFn chunk) {
  const int64_t blocks = (n + kBlockN - 1) / kBlockN;
  const bool chunked = rows > 4;
  const int64_t chunk_k = chunked ? kChunkBytes / (kBlockN * static_cast<int64_t>(sizeof(T))) : k;
  // Steps of one group on a full chunk (a step is a k for f32, a pair for bf16).
  const int64_t steps = sizeof(T) == 2 ? chunk_k / 2 : chunk_k;
  const int64_t groups = (rows + 3) / 4, lines = kChunkBytes / 64;
  const int64_t per_step = chunked ? (lines + groups * steps - 1) / (groups * steps) : 0;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    alignas(64) float part[kMaxGemvRowsBf16 > kMaxGemvRowsF32 ? kMaxGemvRowsBf16 : kMaxGemvRowsF32]
                          [kBlockN];
    if (k == 0) std::fill(&part[0][0], &part[0][0] + rows * kBlockN, 0.0f);
    const T* wb = w + b * padded_k * kBlockN;
    for (int64_t k0 = 0; k0 < k; k0 += chunk_k) {
      const int64_t k1 = k - k0 < chunk_k ? k : k0 + chunk_k;
      // The next kChunkBytes after this chunk: the next chunk of this block,
      // or the start of the next block (blocks are contiguous).
      const char* next = reinterpret_cast<const char*>(wb + k1 * kBlockN);
      for (int r0 = 0; r0 < rows; r0 += 4) {
        const T* xr = x + r0 * k;
        float* pr = part[r0];
        Prefetch pf;
        if (chunked) {
          const int64_t first = (r0 / 4) * steps * per_step;
          pf.begin = next + first * 64;
          pf.count = std::max<int64_t>(0, std::min(lines - first, steps * per_step));
          pf.per_step = per_step;
        }
        switch (rows - r0) {
          case 1:
            chunk(std::integral_constant<int, 1>(), xr, wb, k0, k1, pf, pr);
            break;
          case 2:
            chunk(std::integral_constant<int, 2>(), xr, wb, k0, k1, pf, pr);
            break;
          case 3:
            chunk(std::integral_constant<int, 3>(), xr, wb, k0, k1, pf, pr);
            break;
          default:
            chunk(std::integral_constant<int, 4>(), xr, wb, k0, k1, pf, pr);
        }
      }
    }
    for (int r = 0; r < rows; ++r) Store(part[r], b * kBlockN, n, bias, accumulate, y + r * n);
  }
}

}  // namespace

int GemvMaxRows(bool bf16) {
  if (!bf16) return kMaxGemvRowsF32;
  return CpuIsaAtLeast(CpuIsa::kAmx) ? kMaxGemvRowsBf16Amx : kMaxGemvRowsBf16;
}

void GemvBlockedF32(const float* x, int rows, const float* w, int64_t k, int64_t padded_k,
                    int64_t n, const float* bias, bool accumulate, float* y) {
  RowsInGroups(x, rows, w, k, padded_k, n, bias, accumulate, y,
               [k](auto r, const float* xr, const float* wb, int64_t k0, int64_t k1,
                   const Prefetch& pf, float* part) {
                 if constexpr (decltype(r)::value == 4) {
                   FourRowsChunk(xr, k, wb, k0, k1, pf, part);
                 } else {
                   F32Chunk<decltype(r)::value>(xr, k, wb, k0, k1, pf, part);
                 }
               });
}

void GemvBlockedBf16(const uint16_t* x, int rows, const uint16_t* w, int64_t k, int64_t padded_k,
                     int64_t n, const float* bias, bool accumulate, float* y) {
  RowsInGroups(x, rows, w, k, padded_k, n, bias, accumulate, y,
               [k](auto r, const uint16_t* xr, const uint16_t* wb, int64_t k0, int64_t k1,
                   const Prefetch& pf, float* part) {
                 if constexpr (decltype(r)::value == 4) {
                   if (k % 2 == 0) return FourRowsChunk(xr, k, wb, k0, k1, pf, part);
                 }
                 Bf16Chunk<decltype(r)::value>(xr, k, wb, k0, k1, pf, part);
               });
}

}  // namespace llmserve
