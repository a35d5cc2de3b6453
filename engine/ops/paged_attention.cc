// Paged causal attention over the block-structured KV cache (PagedAttention,
// Kwon et al. 2023) with a flash-attention style online softmax (Dao et al.
// 2022; Milakov & Gimelshein 2018).
//
// Work decomposition. A prefill work item is (sequence s, KV head h, query
// tile): a tile is up to kTargetRows / G consecutive query tokens of s (G =
// query heads per KV head), i.e. up to T x G query rows that share every K/V
// vector loaded; a long prefill is many. A decode work item is one token of s
// and a range of its KV heads: all of them in a large batch, down to one head
// per item at batch 1, so that decode batches and single long prefills alike
// spread over all OpenMP threads (schedule(dynamic), heaviest items — the
// latest tiles — first).
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
#include "engine/common/prefetch.h"
#include "engine/ops/paged_attention_kernels.h"
#include "engine/primitives/bf16_convert.h"

namespace llmserve {
namespace paged_attention_internal {
namespace {

/// Query rows (tokens x heads of one KV group) per prefill work item.
constexpr int kTargetRows = 16;
/// Positions per piece of a decode's scores, each piece prefetching as many
/// positions of the next unit (AttendTile).
constexpr int kPrefetchStep = 8;
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
  // K/V row pointers of the current and the next chunk (double buffered) per
  // KV head of the tile: [2][heads][kChunk], see Keys() / Values().
  std::vector<const T*> keys;
  std::vector<const T*> values;
  int heads = 0;

  const T** Keys(int buf, int head) { return keys.data() + (buf * heads + head) * kChunk; }
  const T** Values(int buf, int head) { return values.data() + (buf * heads + head) * kChunk; }

  void Reserve(int num_rows, int acc_stride, int num_heads) {
    heads = num_heads;
    if (keys.size() < static_cast<size_t>(2 * num_heads * kChunk)) {
      keys.resize(2 * num_heads * kChunk);
      values.resize(2 * num_heads * kChunk);
    }
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
/// first at absolute position `first_pos`) for the query heads of KV heads
/// [kv_head, kv_head + num_kv_heads). `query` / `out` point at the first
/// token's first query head of KV head `kv_head`. Prefill tiles have one KV
/// head; a decode tile (one token) may take several, walking each chunk of
/// positions head by head and prefetching the next head's (or the next
/// chunk's) K/V rows while it computes (AttendTile).
struct Tile {
  const float* query;
  int64_t query_stride;
  float* out;
  int64_t out_stride;
  const int32_t* block_table;
  int kv_head;
  int num_kv_heads;
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

/// Starts loading positions' K/V rows into L2 (`n` row pointers each).
template <typename T>
inline void PrefetchRows(const T* const* keys, const T* const* values, int n, int head_dim) {
  for (int j = 0; j < n; ++j) {
    for (int d = 0; d < head_dim; d += 64 / static_cast<int>(sizeof(T))) {
      PrefetchL2(keys[j] + d);
      PrefetchL2(values[j] + d);
    }
  }
}

template <typename T>
void AttendTile(const Kernels& kernels, const AttentionDims& dims, const T* key_pool,
                const T* value_pool, const Tile& tile) {
  thread_local Scratch<T> scratch;
  using Row = typename Scratch<T>::Row;
  const int group = dims.num_heads / dims.num_kv_heads;
  const int head_dim = dims.head_dim;
  const int heads = tile.num_kv_heads;
  const int rows_per_head = tile.num_tokens * group;
  const int num_rows = rows_per_head * heads;
  const int acc_stride = (head_dim + 15) / 16 * 16;
  scratch.Reserve(num_rows, acc_stride, heads);
  Row* rows = scratch.rows.data();
  for (int h = 0; h < heads; ++h) {
    for (int t = 0; t < tile.num_tokens; ++t) {
      for (int g = 0; g < group; ++g) {
        const int r = h * rows_per_head + t * group + g;
        const int64_t col = int64_t{h * group + g} * head_dim;
        Row& row = rows[r];
        row.q = tile.query + t * tile.query_stride + col;
        row.out = tile.out + t * tile.out_stride + col;
        row.pos = tile.first_pos + t;
        row.max = -std::numeric_limits<float>::infinity();
        row.sum = 0.0f;
        scratch.acc_ptr[r] = scratch.acc.data() + static_cast<size_t>(r) * acc_stride;
        scratch.p_ptr[r] = scratch.scores.data() + static_cast<size_t>(r) * kChunk;
      }
    }
  }
  std::fill_n(scratch.acc.data(), static_cast<size_t>(num_rows) * acc_stride, 0.0f);

  const int block_size = dims.block_size;
  const int64_t tile_elements = int64_t{block_size} * head_dim;
  const int64_t block_elements = tile_elements * dims.num_kv_heads;
  const int last_pos = tile.first_pos + tile.num_tokens - 1;

  // Gathers the K/V row pointers of positions [base, base + kChunk) ∩ [0,
  // last_pos] of the tile's KV head `h` through the block table into buffer
  // `buf`.
  const auto gather = [&](int base, int buf, int h) {
    const int num_keys = std::min(kChunk, last_pos + 1 - base);
    const int64_t head_offset = tile_elements * (tile.kv_head + h);
    const T** keys = scratch.Keys(buf, h);
    const T** values = scratch.Values(buf, h);
    int logical_block = base / block_size;
    int offset = base % block_size;
    for (int j = 0; j < num_keys; ++j) {
      const int64_t e = tile.block_table[logical_block] * block_elements + head_offset +
                        int64_t{offset} * head_dim;
      keys[j] = key_pool + e;
      values[j] = value_pool + e;
      if (++offset == block_size) {
        offset = 0;
        ++logical_block;
      }
    }
  };

  // Decodes stream every K/V row once and gain from a software prefetch; the
  // rows of a multi-token tile are re-read by many queries and mostly cached,
  // where prefetching only displaces the current chunk. A decode tile works
  // in units of (chunk, KV head), heads inner, and while one unit computes
  // its scores it prefetches the next unit's K/V rows, 8 positions per 8 it
  // scores, so the loads stream beside the arithmetic instead of in a burst
  // (a burst of a whole chunk stalls on the miss buffers). The prefetch goes
  // to L2 (prefetcht1; into L1 a burst of 4 lines per position stalls).
  // paged_attention_bench, 32 sequences, Zen 4, 2 threads: bf16 KV at 256
  // positions 2.27-2.35k -> 2.50-2.71k tokens/s, f32 at 128 2.02-2.12k ->
  // 2.43-2.77k (~27 GB/s, the streaming read) against one head per item and
  // the next chunk prefetched at once.
  const bool prefetch = tile.num_tokens == 1;
  for (int h = 0; h < heads; ++h) gather(0, 0, h);
  for (int base = 0, buf = 0; base <= last_pos; base += kChunk, buf ^= 1) {
    const bool has_next = base + kChunk <= last_pos;
    if (has_next) {
      for (int h = 0; h < heads; ++h) gather(base + kChunk, buf ^ 1, h);
    }
    const int chunk_keys = std::min(kChunk, last_pos + 1 - base);
    const int next_keys = has_next ? std::min(kChunk, last_pos + 1 - base - kChunk) : 0;
    for (int h = 0; h < heads; ++h) {
      // The unit after this one: (this chunk, head h + 1) or (next chunk, head 0).
      const T* const* next_k = nullptr;
      const T* const* next_v = nullptr;
      int next_n = 0;
      if (prefetch && h + 1 < heads) {
        next_k = scratch.Keys(buf, h + 1);
        next_v = scratch.Values(buf, h + 1);
        next_n = chunk_keys;
      } else if (prefetch && has_next) {
        next_k = scratch.Keys(buf ^ 1, 0);
        next_v = scratch.Values(buf ^ 1, 0);
        next_n = next_keys;
      }
      const T* const* keys = scratch.Keys(buf, h);
      const T* const* values = scratch.Values(buf, h);

      // Rows of this head whose token reaches this chunk: position >= base.
      const int head_first = h * rows_per_head;
      const int head_end = head_first + rows_per_head;
      const int first_row = head_first + std::max(0, base - tile.first_pos) * group;
      for (int r = first_row; r < head_end; ++r) {
        Row& row = rows[r];
        row.n = std::min(kChunk, row.pos + 1 - base);
        float* s = scratch.scores.data() + static_cast<size_t>(r) * kChunk;
        float chunk_max = -std::numeric_limits<float>::infinity();
        // Scores in pieces of kPrefetchStep positions (each score is one dot
        // product, so the pieces give the same values), with the first row
        // prefetching the next unit's rows piece by piece.
        const bool spread = next_n > 0 && r == first_row;
        const int step = spread ? kPrefetchStep : kChunk;
        for (int j = 0; j < row.n; j += step) {
          if (spread && j < next_n) {
            PrefetchRows(next_k + j, next_v + j, std::min(step, next_n - j), head_dim);
          }
          const int piece = std::min(step, row.n - j);
          const float piece_max =
              Scores(kernels, row.q, keys + j, piece, head_dim, dims.scale, s + j);
          chunk_max = std::max(chunk_max, piece_max);
        }
        if (spread) {
          for (int j = row.n; j < next_n; j += step) {
            PrefetchRows(next_k + j, next_v + j, std::min(step, next_n - j), head_dim);
          }
        }
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
      for (int r = first_row; r < head_end;) {
        const int left = head_end - r;
        const int rows_in_group = left >= 4 ? 4 : (left >= 2 ? 2 : 1);
        int common = kChunk;
        for (int i = r; i < r + rows_in_group; ++i) common = std::min(common, rows[i].n);
        Accumulate(kernels, rows_in_group, &scratch.acc_ptr[r], &scratch.p_ptr[r], values, 0,
                   common, head_dim);
        for (int i = r; i < r + rows_in_group; ++i) {
          if (rows[i].n > common) {
            Accumulate(kernels, 1, &scratch.acc_ptr[i], &scratch.p_ptr[i], values, common,
                       rows[i].n, head_dim);
          }
        }
        r += rows_in_group;
      }
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

/// One parallel work item of RunPagedAttention: tokens [t0, t0 + num_tokens)
/// of sequence `seq`'s new tokens, KV heads [kv_head, kv_head + num_kv_heads).
struct WorkItem {
  int seq;
  int t0;
  int num_tokens;
  int kv_head;
  int num_kv_heads;
};

/// Decode items per thread the KV heads of decode sequences are split into
/// (enough for dynamic scheduling to balance; fewer heads per item would
/// shorten the prefetch distance, see AttendTile).
constexpr int kDecodeItemsPerThread = 8;

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

  int64_t work = 0;
  int num_decodes = 0;
  for (int s = 0; s < batch.num_seqs; ++s) {
    const int q_len = batch.query_start_loc[s + 1] - batch.query_start_loc[s];
    assert(q_len >= 0 && q_len <= batch.context_lens[s]);
    work += int64_t{q_len} * batch.context_lens[s];
    num_decodes += q_len == 1;
  }
  work *= int64_t{2} * dims.num_heads * dims.head_dim;
  const bool parallel = work >= kParallelMinWork;
  const int threads = parallel ? omp_get_max_threads() : 1;
  // A decode sequence's KV heads in `splits` items of up to `decode_heads`.
  const int splits =
      num_decodes == 0
          ? 1
          : std::clamp((kDecodeItemsPerThread * threads + num_decodes - 1) / num_decodes, 1,
                       dims.num_kv_heads);
  const int decode_heads = (dims.num_kv_heads + splits - 1) / splits;

  // The items, reused per calling thread: a decode's head groups; a prefill's
  // tiles of tile_tokens tokens x one KV head each.
  thread_local std::vector<WorkItem> items;
  items.clear();
  for (int s = 0; s < batch.num_seqs; ++s) {
    const int q_len = batch.query_start_loc[s + 1] - batch.query_start_loc[s];
    if (q_len == 1) {
      for (int h = 0; h < dims.num_kv_heads; h += decode_heads) {
        items.push_back({s, 0, 1, h, std::min(decode_heads, dims.num_kv_heads - h)});
      }
      continue;
    }
    for (int t0 = 0; t0 < q_len; t0 += tile_tokens) {
      for (int h = 0; h < dims.num_kv_heads; ++h) {
        items.push_back({s, t0, std::min(tile_tokens, q_len - t0), h, 1});
      }
    }
  }
  const int64_t num_items = static_cast<int64_t>(items.size());
  const int64_t out_stride = int64_t{dims.num_heads} * dims.head_dim;
  const WorkItem* item_data = items.data();

#pragma omp parallel for schedule(dynamic, 1) if (parallel && num_items > 1)
  for (int64_t i = 0; i < num_items; ++i) {
    // Reverse order: the last tiles of a prefill attend to the most positions.
    const WorkItem& item = item_data[num_items - 1 - i];
    const int q_len = batch.query_start_loc[item.seq + 1] - batch.query_start_loc[item.seq];
    const int first_token = batch.query_start_loc[item.seq] + item.t0;
    const int64_t head_offset = int64_t{item.kv_head} * group * dims.head_dim;
    Tile tile;
    tile.query = query + first_token * query_row_stride + head_offset;
    tile.query_stride = query_row_stride;
    tile.out = out + first_token * out_stride + head_offset;
    tile.out_stride = out_stride;
    tile.block_table = batch.block_tables + int64_t{item.seq} * batch.block_table_stride;
    tile.kv_head = item.kv_head;
    tile.num_kv_heads = item.num_kv_heads;
    tile.first_pos = batch.context_lens[item.seq] - q_len + item.t0;
    tile.num_tokens = item.num_tokens;
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
