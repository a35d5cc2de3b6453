// Paged causal attention over the block-structured KV cache (PagedAttention,
// Kwon et al. 2023) with a flash-attention style online softmax (Dao et al.
// 2022; Milakov & Gimelshein 2018).
//
// Work decomposition. A work item is (sequence s, KV head h, query tile):
// a tile is up to kTargetRows / G consecutive query tokens of s (G = query
// heads per KV head), i.e. up to T x G query rows that share every K/V vector
// loaded. A decode is one tile per (s, h); a long prefill is many, so both
// decode batches and single long prefills spread over all OpenMP threads
// (schedule(dynamic), heaviest items — the latest tiles — first).
//
// Per tile (AttendTile): for each logical chunk of kChunk positions up to the
// tile's last position, gather the chunk's K/V row pointers through the block
// table, then for every query row that reaches the chunk:
//   s_j = scale * <q, k_j>           (j < n_r, causal: n_r covers pos <= row pos)
//   m' = max(m, max_j s_j);  alpha = exp(m - m');  p_j = exp(s_j - m')
//   l = l * alpha + sum_j p_j;  acc = acc * alpha + sum_j p_j v_j
// and finally out = acc / l. The inner steps are the per-ISA kernels
// (paged_attention_kernels.h), chosen once per process.
//
// Batch invariance: a row's arithmetic depends only on its query, its
// position and the K/V values it reads (chunk boundaries are logical
// positions, reductions have a fixed order, the rows sharing a tile only share
// loads), so outputs are bitwise identical whatever else is in the batch, how
// tokens are tiled, the thread count, the block size or the block placement.

#include "engine/ops/paged_attention.h"

#include <omp.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/common/cpu_isa.h"
#include "engine/ops/paged_attention_kernels.h"
#include "engine/primitives/bf16_convert.h"

namespace llmserve {
namespace paged_attention_internal {
namespace {

/// Query rows (tokens x heads of one KV group) per work item.
constexpr int kTargetRows = 16;
/// Below this many multiply-adds (q.k plus p.v) a call runs on one thread.
constexpr int64_t kParallelMinWork = int64_t{1} << 16;

Isa DetectIsa() {
  if (IsaSupported(Isa::kAvx512)) return Isa::kAvx512;
  if (IsaSupported(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}

/// Per-thread scratch of AttendTile; grows to the largest tile seen, so the
/// hot path allocates only on a thread's first (or a larger) call. T: the
/// KV-cache element type (float or bf16 bits).
template <typename T>
struct Scratch {
  struct Row {
    const float* q;
    float* out;
    int pos;    // absolute position of the row's token
    int n;      // positions of the current chunk the row attends to
    float max;  // running max of the scaled scores
    float sum;  // running sum of exp(score - max)
  };
  std::vector<Row> rows;
  std::vector<float> acc;     // [rows, acc_stride]
  std::vector<float> scores;  // [rows, kChunk]
  std::vector<float*> acc_ptr;
  std::vector<const float*> p_ptr;
  // K/V row pointers of the current and the next chunk (double buffered).
  const T* keys[2][kChunk];
  const T* values[2][kChunk];

  void Reserve(int num_rows, int acc_stride) {
    if (rows.size() < static_cast<size_t>(num_rows)) {
      rows.resize(num_rows);
      acc_ptr.resize(num_rows);
      p_ptr.resize(num_rows);
      scores.resize(static_cast<size_t>(num_rows) * kChunk);
    }
    const size_t acc_size = static_cast<size_t>(num_rows) * acc_stride;
    if (acc.size() < acc_size) acc.resize(acc_size);
  }
};

/// One work item: `num_tokens` consecutive query tokens of one sequence (the
/// first at absolute position `first_pos`) for the query heads of KV head
/// `kv_head`. `query` / `out` point at the first token's first head of the group.
struct Tile {
  const float* query;
  int64_t query_stride;
  float* out;
  int64_t out_stride;
  const int32_t* block_table;
  int kv_head;
  int first_pos;
  int num_tokens;
};

inline float Scores(const Kernels& k, const float* q, const float* const* keys, int n, int hd,
                    float scale, float* s) {
  return k.scores(q, keys, n, hd, scale, s);
}
inline float Scores(const Kernels& k, const float* q, const uint16_t* const* keys, int n, int hd,
                    float scale, float* s) {
  return k.scores_bf16(q, keys, n, hd, scale, s);
}
inline void Accumulate(const Kernels& k, int rows, float* const* acc, const float* const* p,
                       const float* const* values, int j0, int j1, int hd) {
  k.accumulate(rows, acc, p, values, j0, j1, hd);
}
inline void Accumulate(const Kernels& k, int rows, float* const* acc, const float* const* p,
                       const uint16_t* const* values, int j0, int j1, int hd) {
  k.accumulate_bf16(rows, acc, p, values, j0, j1, hd);
}

template <typename T>
void AttendTile(const Kernels& kernels, const AttentionDims& dims, const T* key_pool,
                const T* value_pool, const Tile& tile) {
  thread_local Scratch<T> scratch;
  using Row = typename Scratch<T>::Row;
  const int group = dims.num_heads / dims.num_kv_heads;
  const int head_dim = dims.head_dim;
  const int num_rows = tile.num_tokens * group;
  const int acc_stride = (head_dim + 15) / 16 * 16;
  scratch.Reserve(num_rows, acc_stride);
  Row* rows = scratch.rows.data();
  for (int t = 0; t < tile.num_tokens; ++t) {
    for (int g = 0; g < group; ++g) {
      const int r = t * group + g;
      Row& row = rows[r];
      row.q = tile.query + t * tile.query_stride + g * head_dim;
      row.out = tile.out + t * tile.out_stride + g * head_dim;
      row.pos = tile.first_pos + t;
      row.max = -std::numeric_limits<float>::infinity();
      row.sum = 0.0f;
      scratch.acc_ptr[r] = scratch.acc.data() + static_cast<size_t>(r) * acc_stride;
      scratch.p_ptr[r] = scratch.scores.data() + static_cast<size_t>(r) * kChunk;
    }
  }
  std::fill_n(scratch.acc.data(), static_cast<size_t>(num_rows) * acc_stride, 0.0f);

  const int block_size = dims.block_size;
  const int64_t tile_elements = int64_t{block_size} * head_dim;
  const int64_t block_elements = tile_elements * dims.num_kv_heads;
  const int64_t head_offset = tile_elements * tile.kv_head;
  const int last_pos = tile.first_pos + tile.num_tokens - 1;

  // Gathers the K/V row pointers of positions [base, base + kChunk) ∩ [0,
  // last_pos] through the block table into buffer `buf`; with `prefetch`,
  // also starts loading those rows (the next chunk's, while this one computes).
  const auto gather = [&](int base, int buf, bool prefetch) {
    const int num_keys = std::min(kChunk, last_pos + 1 - base);
    int logical_block = base / block_size;
    int offset = base % block_size;
    for (int j = 0; j < num_keys; ++j) {
      const int64_t e = tile.block_table[logical_block] * block_elements + head_offset +
                        int64_t{offset} * head_dim;
      scratch.keys[buf][j] = key_pool + e;
      scratch.values[buf][j] = value_pool + e;
      if (prefetch) {
        for (int d = 0; d < head_dim; d += 64 / static_cast<int>(sizeof(T))) {
          __builtin_prefetch(key_pool + e + d, 0, 2);
          __builtin_prefetch(value_pool + e + d, 0, 2);
        }
      }
      if (++offset == block_size) {
        offset = 0;
        ++logical_block;
      }
    }
  };

  // Decodes stream every K/V row once and gain from the prefetch; the rows of
  // a multi-token tile are re-read by many queries and mostly cached, where
  // prefetching only displaces the current chunk. The prefetch goes to L2
  // (prefetcht1): into L1 (prefetcht0) a chunk's burst of 4 lines per
  // position stalls on the L1 miss buffers. paged_attention_bench, 32
  // sequences, bf16 KV, Zen 4, 2 threads: 12.8 GB/s with t0, 20.5 GB/s with t1
  // (streaming read: 26 GB/s).
  const bool prefetch = tile.num_tokens == 1;
  gather(0, 0, /*prefetch=*/false);
  for (int base = 0, buf = 0; base <= last_pos; base += kChunk, buf ^= 1) {
    if (base + kChunk <= last_pos) gather(base + kChunk, buf ^ 1, prefetch);
    const T* const* keys = scratch.keys[buf];
    const T* const* values = scratch.values[buf];

    // Rows whose token reaches this chunk: tokens with position >= base.
    const int first_row = std::max(0, base - tile.first_pos) * group;
    for (int r = first_row; r < num_rows; ++r) {
      Row& row = rows[r];
      row.n = std::min(kChunk, row.pos + 1 - base);
      float* s = scratch.scores.data() + static_cast<size_t>(r) * kChunk;
      const float chunk_max = Scores(kernels, row.q, keys, row.n, head_dim, dims.scale, s);
      const float new_max = std::max(row.max, chunk_max);
      const float alpha = std::exp(row.max - new_max);  // 0 on the first chunk
      const float chunk_sum = kernels.exp_sum(s, row.n, new_max);
      row.sum = row.sum * alpha + chunk_sum;
      row.max = new_max;
      if (alpha != 1.0f) {
        float* a = scratch.acc_ptr[r];
        for (int d = 0; d < head_dim; ++d) a[d] *= alpha;
      }
    }

    // acc += P V, up to 4 rows at a time over the positions they all attend
    // to, then each row alone over the rest (same per-lane order either way).
    for (int r = first_row; r < num_rows;) {
      const int left = num_rows - r;
      const int rows_in_group = left >= 4 ? 4 : (left >= 2 ? 2 : 1);
      int common = kChunk;
      for (int i = r; i < r + rows_in_group; ++i) common = std::min(common, rows[i].n);
      Accumulate(kernels, rows_in_group, &scratch.acc_ptr[r], &scratch.p_ptr[r], values, 0, common,
                 head_dim);
      for (int i = r; i < r + rows_in_group; ++i) {
        if (rows[i].n > common) {
          Accumulate(kernels, 1, &scratch.acc_ptr[i], &scratch.p_ptr[i], values, common, rows[i].n,
                     head_dim);
        }
      }
      r += rows_in_group;
    }
  }

  for (int r = 0; r < num_rows; ++r) {
    const float* a = scratch.acc_ptr[r];
    float* o = rows[r].out;
    const float sum = rows[r].sum;
    for (int d = 0; d < head_dim; ++d) o[d] = a[d] / sum;
  }
}

}  // namespace

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

bool IsaSupported(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return CpuIsaAtLeast(CpuIsa::kAvx2);
    case Isa::kAvx512:
      return CpuIsaAtLeast(CpuIsa::kAvx512);
  }
  return false;
}

Isa ActiveIsa() {
  static const Isa isa = DetectIsa();
  return isa;
}

const Kernels& KernelsFor(Isa isa) {
  switch (isa) {
    case Isa::kAvx2:
      return kAvx2Kernels;
    case Isa::kAvx512:
      return kAvx512Kernels;
    case Isa::kScalar:
      break;
  }
  return kScalarKernels;
}

namespace {

template <typename T>
void RunPagedAttention(Isa isa, const float* query, int64_t query_row_stride,
                       const AttentionBatch& batch, const AttentionDims& dims, const T* key_pool,
                       const T* value_pool, float* out) {
  assert(dims.num_kv_heads > 0 && dims.num_heads % dims.num_kv_heads == 0);
  assert(dims.head_dim > 0 && dims.block_size > 0);
  assert(IsaSupported(isa));
  if (batch.num_seqs <= 0) return;
  const Kernels& kernels = KernelsFor(isa);
  const int group = dims.num_heads / dims.num_kv_heads;
  const int tile_tokens = std::max(1, kTargetRows / group);

  // tile_start[s] = index of the first tile of sequence s (tiles of all
  // sequences numbered consecutively). Reused per calling thread.
  thread_local std::vector<int32_t> tile_start_storage;
  if (tile_start_storage.size() < static_cast<size_t>(batch.num_seqs) + 1) {
    tile_start_storage.resize(batch.num_seqs + 1);
  }
  int32_t* tile_start = tile_start_storage.data();
  tile_start[0] = 0;
  int64_t work = 0;
  for (int s = 0; s < batch.num_seqs; ++s) {
    const int q_len = batch.query_start_loc[s + 1] - batch.query_start_loc[s];
    assert(q_len >= 0 && q_len <= batch.context_lens[s]);
    tile_start[s + 1] = tile_start[s] + (q_len + tile_tokens - 1) / tile_tokens;
    work += int64_t{q_len} * batch.context_lens[s];
  }
  work *= int64_t{2} * dims.num_heads * dims.head_dim;
  const int64_t num_items = int64_t{tile_start[batch.num_seqs]} * dims.num_kv_heads;
  const int64_t out_stride = int64_t{dims.num_heads} * dims.head_dim;

#pragma omp parallel for schedule(dynamic, 1) if (work >= kParallelMinWork && num_items > 1)
  for (int64_t item = 0; item < num_items; ++item) {
    // Reverse order: the last tiles of a prefill attend to the most positions.
    const int64_t reversed = num_items - 1 - item;
    const int tile_index = static_cast<int>(reversed / dims.num_kv_heads);
    const int kv_head = static_cast<int>(reversed % dims.num_kv_heads);
    const int s = static_cast<int>(
        std::upper_bound(tile_start, tile_start + batch.num_seqs + 1, tile_index) - tile_start - 1);
    const int q_begin = batch.query_start_loc[s];
    const int q_len = batch.query_start_loc[s + 1] - q_begin;
    const int t0 = (tile_index - tile_start[s]) * tile_tokens;
    const int first_token = q_begin + t0;
    const int64_t head_offset = int64_t{kv_head} * group * dims.head_dim;
    Tile tile;
    tile.query = query + first_token * query_row_stride + head_offset;
    tile.query_stride = query_row_stride;
    tile.out = out + first_token * out_stride + head_offset;
    tile.out_stride = out_stride;
    tile.block_table = batch.block_tables + int64_t{s} * batch.block_table_stride;
    tile.kv_head = kv_head;
    tile.first_pos = batch.context_lens[s] - q_len + t0;
    tile.num_tokens = std::min(tile_tokens, q_len - t0);
    AttendTile(kernels, dims, key_pool, value_pool, tile);
  }
}

}  // namespace

void PagedAttentionWithIsa(Isa isa, const float* query, int64_t query_row_stride,
                           const AttentionBatch& batch, const AttentionDims& dims,
                           const float* key_pool, const float* value_pool, float* out) {
  RunPagedAttention(isa, query, query_row_stride, batch, dims, key_pool, value_pool, out);
}

void PagedAttentionWithIsa(Isa isa, const float* query, int64_t query_row_stride,
                           const AttentionBatch& batch, const AttentionDims& dims,
                           const uint16_t* key_pool, const uint16_t* value_pool, float* out) {
  RunPagedAttention(isa, query, query_row_stride, batch, dims, key_pool, value_pool, out);
}

}  // namespace paged_attention_internal

namespace {

// One head's row of head_dim floats into a pool row of the pool's element type.
inline void StoreRow(const float* src, int head_dim, float* dst) {
  std::memcpy(dst, src, sizeof(float) * head_dim);
}
inline void StoreRow(const float* src, int head_dim, uint16_t* dst) {
  FloatToBf16(src, head_dim, dst);  // round to nearest even
}

// WriteKVCache for a pool of element type T (float or bf16 bits), StoreRow<T> per row.
template <typename T>
void WriteKVCacheRows(const float* key, const float* value, int64_t row_stride, int num_tokens,
                      const int64_t* slot_mapping, const AttentionDims& dims, T* key_pool,
                      T* value_pool) {
  const int head_dim = dims.head_dim;
  const bool parallel = int64_t{num_tokens} * dims.num_kv_heads * head_dim >= int64_t{1} << 16;
#pragma omp parallel for schedule(static) if (parallel)
  for (int t = 0; t < num_tokens; ++t) {
    const int64_t slot = slot_mapping[t];
    if (slot < 0) continue;
    const int64_t block = slot / dims.block_size;
    const int64_t offset = slot % dims.block_size;
    for (int h = 0; h < dims.num_kv_heads; ++h) {
      const int64_t dst = ((block * dims.num_kv_heads + h) * dims.block_size + offset) * head_dim;
      const int64_t src = t * row_stride + int64_t{h} * head_dim;
      StoreRow(key + src, head_dim, key_pool + dst);
      StoreRow(value + src, head_dim, value_pool + dst);
    }
  }
}

}  // namespace

void WriteKVCache(const float* key, const float* value, int64_t row_stride, int num_tokens,
                  const int64_t* slot_mapping, const AttentionDims& dims, uint16_t* key_pool,
                  uint16_t* value_pool) {
  WriteKVCacheRows(key, value, row_stride, num_tokens, slot_mapping, dims, key_pool, value_pool);
}

void WriteKVCache(const float* key, const float* value, int64_t row_stride, int num_tokens,
                  const int64_t* slot_mapping, const AttentionDims& dims, float* key_pool,
                  float* value_pool) {
  WriteKVCacheRows(key, value, row_stride, num_tokens, slot_mapping, dims, key_pool, value_pool);
}

void PagedAttention(const float* query, int64_t query_row_stride, const AttentionBatch& batch,
                    const AttentionDims& dims, const float* key_pool, const float* value_pool,
                    float* out) {
  using paged_attention_internal::ActiveIsa;
  paged_attention_internal::PagedAttentionWithIsa(ActiveIsa(), query, query_row_stride, batch, dims,
                                                  key_pool, value_pool, out);
}

void PagedAttention(const float* query, int64_t query_row_stride, const AttentionBatch& batch,
                    const AttentionDims& dims, const uint16_t* key_pool,
                    const uint16_t* value_pool, float* out) {
  using paged_attention_internal::ActiveIsa;
  paged_attention_internal::PagedAttentionWithIsa(ActiveIsa(), query, query_row_stride, batch, dims,
                                                  key_pool, value_pool, out);
}

const char* PagedAttentionKernelName() {
  return paged_attention_internal::IsaName(paged_attention_internal::ActiveIsa());
}

}  // namespace llmserve
