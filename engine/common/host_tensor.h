#ifndef LLMSERVE_ENGINE_COMMON_HOST_TENSOR_H_
#define LLMSERVE_ENGINE_COMMON_HOST_TENSOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/common/dtype.h"

namespace llmserve {

/// "[768, 2304]": a shape for messages.
std::string ShapeString(const std::vector<int64_t>& shape);

/// A read-only, row-major (C-contiguous) tensor in host memory, as read from a
/// checkpoint. `data` either points into a memory-mapped file (kept alive by
/// `owner`) or into a buffer owned by `owner`. An empty tensor (data == nullptr)
/// means "absent" (e.g. no bias).
struct HostTensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  std::shared_ptr<const void> owner;

  bool empty() const { return data == nullptr; }
  int64_t num_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  /// Size in bytes: rows of the last dimension × DTypeRowBytes (whole blocks
  /// for a quantized dtype; -1 if the last dimension is not a multiple of its block).
  int64_t num_bytes() const;
  /// "[768, 2304]"
  std::string ShapeString() const;

  /// The elements converted to f32 (a copy).
  std::vector<float> ToFloat() const;

  /// A tensor owning a copy of `values` with the given shape (dtype f32).
  static HostTensor FromFloats(std::vector<float> values, std::vector<int64_t> shape);
  /// A view of num_bytes() bytes at `data`, kept alive by `owner`.
  static HostTensor View(DType dtype, std::vector<int64_t> shape, const void* data,
                         std::shared_ptr<const void> owner);
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_COMMON_HOST_TENSOR_H_
