#ifndef LLMSERVE_ENGINE_LOADERS_GGUF_H_
#define LLMSERVE_ENGINE_LOADERS_GGUF_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/common/dtype.h"
#include "engine/common/host_tensor.h"

namespace llmserve {

/// Type of a GGUF metadata value (ggml docs/gguf.md, `gguf_metadata_value_type`).
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

/// "uint32", "string", "array", ...; "type N" for an unknown id.
std::string GgufValueTypeName(GgufValueType t);

/// One metadata value. Scalars are widened: integers (and bool) into `i` (a
/// uint64 above INT64_MAX is kept bit for bit in `u`; `u` always holds the
/// unsigned bits), floats into `f`; strings in `s`. An array keeps its element
/// type and its elements compactly: numbers (integers, bools, floats) as
/// double in `numbers`, strings in `strings`, nested arrays in `arrays`.
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0.0;
  std::string s;
  GgufValueType array_type = GgufValueType::kUint8;  ///< element type (kArray only)
  std::vector<double> numbers;       ///< numeric / bool elements (kArray only)
  std::vector<std::string> strings;  ///< string elements (kArray only)
  std::vector<GgufValue> arrays;     ///< nested array elements (kArray only)

  /// uint8..int64 and bool.
  bool is_integer() const;
  bool is_float() const { return type == GgufValueType::kFloat32 || type == GgufValueType::kFloat64; }
  /// Elements of an array (0 for a scalar).
  std::size_t array_size() const { return numbers.size() + strings.size() + arrays.size(); }
};

/// One tensor of a GGUF file, after validation.
struct GgufTensorInfo {
  std::string name;
  /// Dimensions as stored: fastest-varying first (ggml's ne[0] = row length).
  std::vector<int64_t> ne;
  /// Row-major shape, outermost first: `ne` reversed ([out, in] for a weight).
  std::vector<int64_t> shape;
  uint32_t ggml_type = 0;  ///< ggml_type id as stored
  DType dtype = DType::kF32;
  uint64_t offset = 0;     ///< relative to the data section
  int64_t num_bytes = 0;
};

/// ggml's name of a tensor type id ("F32", "Q4_K", "IQ2_XXS", ...; "type N" if unknown).
std::string GgmlTypeName(uint32_t ggml_type);

/// The llmserve dtype of a ggml tensor type: F32 (0), F16 (1), Q4_0 (2),
/// Q8_0 (8), Q4_K (12), Q6_K (14), BF16 (30). Errors: INVALID_ARGUMENT naming
/// the type for every other id.
absl::StatusOr<DType> DTypeFromGgmlType(uint32_t ggml_type);

/// A validated GGUF file, version 2 or 3, little-endian (ggml's docs/gguf.md):
/// `"GGUF"`, uint32 version, uint64 tensor count, uint64 metadata count; the
/// metadata key/value pairs (string = uint64 length + bytes; value type
/// uint32; arrays = uint32 element type + uint64 count + elements, nestable);
/// per tensor: name, uint32 n_dims, uint64 ne[n_dims], uint32 ggml type,
/// uint64 offset; then padding to `general.alignment` (uint32, default 32,
/// a power of two) and the data section, each tensor at its offset (a
/// multiple of the alignment).
///
/// Parsing checks everything a later reader could trip over: every count,
/// length and offset against the bytes that remain (so no allocation exceeds
/// what the file could hold), nesting depth (≤ kGgufMaxArrayDepth), duplicate
/// keys and tensor names, 1 ≤ n_dims ≤ 4, every dimension ≥ 1 with the element
/// count and byte size far from overflow, a row length that holds whole
/// blocks of a quantized type, a known and supported tensor type, and each
/// tensor's bytes inside the data section. Errors are INVALID_ARGUMENT naming
/// the file and the key, tensor or byte offset (NOT_FOUND / INTERNAL from
/// opening the file).
class GgufFile {
 public:
  /// Deepest nesting of arrays accepted (an array of arrays is depth 2).
  static constexpr int kMaxArrayDepth = 4;

  /// Memory-maps and parses `path`; tensors are views into the mapping.
  static absl::StatusOr<GgufFile> Open(const std::string& path);

  /// Parses `size` bytes at `data`, kept alive by `owner`; `name` is used in
  /// errors. Tensors are views of these bytes.
  static absl::StatusOr<GgufFile> Parse(std::shared_ptr<const void> owner, const uint8_t* data,
                                        std::size_t size, std::string name);

  /// True if the first four bytes of the file at `path` are "GGUF".
  static bool HasMagic(const std::string& path);

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  /// Byte offset of the data section from the start of the file.
  uint64_t data_offset() const { return data_offset_; }
  uint32_t alignment() const { return alignment_; }

  /// Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  /// The value of `key`, or nullptr.
  const GgufValue* Find(absl::string_view key) const;

  /// Typed accessors. Errors: NOT_FOUND naming the key if absent;
  /// INVALID_ARGUMENT naming the key if the value has another type (integers
  /// of any width are accepted for GetInt and checked against the int64
  /// range; GetFloat accepts float32/float64 and integers).
  absl::StatusOr<std::string> GetString(absl::string_view key) const;
  absl::StatusOr<int64_t> GetInt(absl::string_view key) const;
  absl::StatusOr<double> GetFloat(absl::string_view key) const;
  /// The elements of a string array / a numeric array (integers or floats, as double).
  absl::StatusOr<std::vector<std::string>> GetStringArray(absl::string_view key) const;
  absl::StatusOr<std::vector<double>> GetNumberArray(absl::string_view key) const;

  /// Tensors in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  /// The tensor named `name`, or nullptr.
  const GgufTensorInfo* FindTensor(absl::string_view name) const;
  /// A view of the tensor's bytes with its row-major shape and dtype.
  /// Errors: NOT_FOUND naming the tensor.
  absl::StatusOr<HostTensor> GetTensor(absl::string_view name) const;

 private:
  GgufFile() = default;

  std::string name_;
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  absl::flat_hash_map<std::string, std::size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  absl::flat_hash_map<std::string, std::size_t> tensor_index_;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LOADERS_GGUF_H_
