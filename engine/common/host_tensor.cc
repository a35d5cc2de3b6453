#include "engine/common/host_tensor.h"

#include "absl/strings/str_join.h"

namespace llmserve {

std::string ShapeString(const std::vector<int64_t>& shape) {
  return "[" + absl::StrJoin(shape, ", ") + "]";
}

std::string HostTensor::ShapeString() const { return llmserve::ShapeString(shape); }

int64_t HostTensor::num_bytes() const {
  if (shape.empty()) return DTypeRowBytes(dtype, 1);
  const int64_t cols = shape.back();
  const int64_t row = DTypeRowBytes(dtype, cols);
  if (row < 0) return -1;
  return cols == 0 ? 0 : num_elements() / cols * row;
}

std::vector<float> HostTensor::ToFloat() const {
  std::vector<float> out(static_cast<std::size_t>(num_elements()));
  if (data != nullptr) ConvertToFloat(dtype, data, out.size(), out.data());
  return out;
}

HostTensor HostTensor::FromFloats(std::vector<float> values, std::vector<int64_t> shape) {
  auto buffer = std::make_shared<std::vector<float>>(std::move(values));
  HostTensor t;
  t.dtype = DType::kF32;
  t.shape = std::move(shape);
  t.data = buffer->data();
  t.owner = std::shared_ptr<const void>(buffer, buffer.get());
  return t;
}

HostTensor HostTensor::View(DType dtype, std::vector<int64_t> shape, const void* data,
                            std::shared_ptr<const void> owner) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = data;
  t.owner = std::move(owner);
  return t;
}

}  // namespace llmserve
