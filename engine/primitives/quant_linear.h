#ifndef LLMSERVE_ENGINE_PRIMITIVES_QUANT_LINEAR_H_
#define LLMSERVE_ENGINE_PRIMITIVES_QUANT_LINEAR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "engine/common/host_tensor.h"
#include "engine/primitives/linear_backend.h"

namespace llmserve {

/// The LinearBackend for ggml block-quantized weights (Q8_0, Q4_0, Q4_K, Q6_K;
/// ggml-common.h).
///  * a quantized `weight` (raw blocks, [out, in], e.g. a view into a
///    memory-mapped GGUF file): repacked once into the row-interleaved layout
///    of quant_repack.h (16-row groups; Q8_0 / Q4_0 / Q6_K the same bytes
///    re-arranged, Q4_K 2.8 % more: its 6-bit scales unpacked) in a 2 MiB-page
///    buffer; if the blocks were in a MappedFile, their pages are then
///    released from RSS (ReleaseMappedPages), so the model's resident size
///    stays ~ the file's.
///  * `weight` f32 / bf16 and `weight_dtype` kQ8_0 / kQ4_0: quantized once
///    here, exactly as llama.cpp's quantize_row_q8_0_ref / _q4_0_ref
///    (quantize.h), then repacked as above.
/// Forward, below 64 rows (decode), quantizes the activations to int8 per
/// block (quantize.h) and runs the kernel of the active CPU-ISA level
/// (quant_kernels.h: AVX-512 VNNI, AVX2 or scalar), parallel over output rows
/// on the calling thread's OpenMP team; from 64 rows (prefill) it dequantizes
/// tiles of the weight for a oneDNN bf16 / f32 matmul (dequant_matmul.h).
/// `bias` [out] or empty; with `accumulate` the result is added to y.
///
/// Errors: INVALID_ARGUMENT if `in` is not a multiple of the type's block (32;
/// 256 for the K-quants), the weight's dtype is not one of the four, or a
/// float weight is to be quantized to anything but q8_0 / q4_0;
/// RESOURCE_EXHAUSTED if the buffer cannot be allocated.
absl::StatusOr<std::unique_ptr<LinearBackend>> CreateQuantizedLinear(const HostTensor& weight,
                                                                     const HostTensor& bias,
                                                                     DType weight_dtype,
                                                                     bool accumulate);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_QUANT_LINEAR_H_
