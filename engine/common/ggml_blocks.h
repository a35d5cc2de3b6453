#ifndef LLMSERVE_ENGINE_COMMON_GGML_BLOCKS_H_
#define LLMSERVE_ENGINE_COMMON_GGML_BLOCKS_H_

#include <cstdint>

#include "engine/common/dtype.h"

namespace llmserve {

// ggml's quantized block layouts, bit for bit (llama.cpp ggml/src/ggml-common.h;
// gguf-py/gguf/quants.py). All multi-byte fields are little-endian; `d`, `dmin`
// are IEEE binary16.

/// Values per Q8_0 / Q4_0 block (ggml's QK8_0, QK4_0).
inline constexpr int kQBlock = 32;
/// Values per K-quant super-block (ggml's QK_K).
inline constexpr int kQKBlock = 256;

/// Q8_0: x[i] = d · qs[i].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQBlock];
};
static_assert(sizeof(BlockQ8_0) == 34);

/// Q4_0: x[j] = d · ((qs[j] & 15) − 8), x[j + 16] = d · ((qs[j] >> 4) − 8), j < 16.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQBlock / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

/// Q4_K: 8 sub-blocks of 32 values; sub-block s has a 6-bit scale sc_s and a
/// 6-bit min m_s packed in `scales` (see Q4KScaleMin); x = d·sc_s·q − dmin·m_s
/// with q the 4-bit value: sub-blocks 2p and 2p+1 take the low and high nibbles
/// of qs[32p .. 32p+31].
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQKBlock / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

/// Q6_K: 16 sub-blocks of 16 values with int8 scales; 6-bit q = 4 low bits from
/// `ql` and 2 high bits from `qh`; x = d · scales[s] · (q − 32).
struct BlockQ6_K {
  uint8_t ql[kQKBlock / 2];
  uint8_t qh[kQKBlock / 4];
  int8_t scales[kQKBlock / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

/// The 6-bit scale and min of Q4_K sub-block `j` (0..7) from the 12 packed
/// bytes (ggml's get_scale_min_k4).
inline void Q4KScaleMin(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

/// Dequantizes `n` values (a multiple of DTypeBlockElements(type)) of the
/// quantized `type` starting at block `src` into `dst[n]` (f32), exactly as
/// ggml's dequantize_row_q8_0 / _q4_0 / _q4_K / _q6_K.
void DequantizeRow(DType type, const void* src, int64_t n, float* dst);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_COMMON_GGML_BLOCKS_H_
