#include "engine/loaders/gguf.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/common/mapped_file.h"

namespace llmserve {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read little-endian
constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
// Far above any real tensor; keeps every element and byte product inside int64.
constexpr int64_t kMaxDim = int64_t{1} << 40;
constexpr int64_t kMaxElements = int64_t{1} << 50;
// Counts are checked against the bytes left (each element takes at least one
// byte), but an element in memory is larger than in the file: containers are
// reserved up to this many elements and then grow with what was actually
// read, so memory stays proportional to the bytes parsed, whatever a count says.
constexpr std::size_t kMaxReserve = 1 << 16;

// ggml_type names (ggml.h), by id; empty for removed ids.
constexpr const char* kGgmlTypeNames[] = {
    "F32",     "F16",    "Q4_0",   "Q4_1",   "",        "",       "Q5_0",    "Q5_1",
    "Q8_0",    "Q8_1",   "Q2_K",   "Q3_K",   "Q4_K",    "Q5_K",   "Q6_K",    "Q8_K",
    "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",  "IQ3_S",  "IQ2_S",   "IQ4_XS",
    "I8",      "I16",    "I32",    "I64",    "F64",     "IQ1_M",  "BF16",    "",
    "",        "",       "TQ1_0",  "TQ2_0",  "",        "",       "",        "MXFP4"};

// Bytes of one element (scalars) or the minimum bytes of one element (string:
// its length; array: its type and count) of a metadata value type.
int64_t MinValueBytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8: case GgufValueType::kInt8: case GgufValueType::kBool: return 1;
    case GgufValueType::kUint16: case GgufValueType::kInt16: return 2;
    case GgufValueType::kUint32: case GgufValueType::kInt32: case GgufValueType::kFloat32: return 4;
    case GgufValueType::kUint64: case GgufValueType::kInt64: case GgufValueType::kFloat64: return 8;
    case GgufValueType::kString: return 8;
    case GgufValueType::kArray: return 12;
  }
  return -1;  // unknown type
}

// A bounds-checked little-endian reader over the file's bytes.
class Reader {
 public:
  Reader(const uint8_t* data, std::size_t size, const std::string& name)
      : data_(data), size_(size), name_(name) {}

  std::size_t offset() const { return offset_; }
  std::size_t remaining() const { return size_ - offset_; }

  // Errors name the file, the byte offset and `what` was being read.
  absl::Status Truncated(absl::string_view what, uint64_t need) const {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": truncated GGUF file: ", what,
                                                   " needs ", need, " bytes at offset ", offset_,
                                                   ", the file has ", remaining(), " left"));
  }

  template <typename T>
  absl::StatusOr<T> Read(absl::string_view what) {
    if (remaining() < sizeof(T)) return Truncated(what, sizeof(T));
    T v;
    std::memcpy(&v, data_ + offset_, sizeof(T));
    offset_ += sizeof(T);
    return v;
  }

  absl::StatusOr<std::string> ReadString(absl::string_view what) {
    auto len = Read<uint64_t>(what);
    if (!len.ok()) return len.status();
    if (*len > remaining()) return Truncated(what, *len);
    std::string s(reinterpret_cast<const char*>(data_ + offset_), static_cast<std::size_t>(*len));
    offset_ += static_cast<std::size_t>(*len);
    return s;
  }

 private:
  const uint8_t* data_;
  std::size_t size_;
  const std::string& name_;
  std::size_t offset_ = 0;
};

absl::Status BadValue(const std::string& name, absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": metadata key \"", key, "\": ", what));
}

// Reads one scalar of type `t` into `v` (type set by the caller).
absl::Status ReadScalar(Reader& r, GgufValueType t, absl::string_view what, GgufValue& v) {
  auto as_int = [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    auto x = r.Read<T>(what);
    if (!x.ok()) return x.status();
    v.i = static_cast<int64_t>(*x);
    v.u = static_cast<uint64_t>(*x);
    v.f = static_cast<double>(*x);
    return absl::OkStatus();
  };
  switch (t) {
    case GgufValueType::kUint8: return as_int(uint8_t{});
    case GgufValueType::kInt8: return as_int(int8_t{});
    case GgufValueType::kUint16: return as_int(uint16_t{});
    case GgufValueType::kInt16: return as_int(int16_t{});
    case GgufValueType::kUint32: return as_int(uint32_t{});
    case GgufValueType::kInt32: return as_int(int32_t{});
    case GgufValueType::kUint64: return as_int(uint64_t{});
    case GgufValueType::kInt64: return as_int(int64_t{});
    case GgufValueType::kBool: {
      auto x = r.Read<uint8_t>(what);
      if (!x.ok()) return x.status();
      if (*x > 1) return absl::InvalidArgumentError(absl::StrCat(what, ": bool byte is ", *x));
      v.i = *x;
      v.u = *x;
      v.f = *x;
      return absl::OkStatus();
    }
    case GgufValueType::kFloat32: {
      auto x = r.Read<float>(what);
      if (!x.ok()) return x.status();
      v.f = *x;
      return absl::OkStatus();
    }
    case GgufValueType::kFloat64: {
      auto x = r.Read<double>(what);
      if (!x.ok()) return x.status();
      v.f = *x;
      return absl::OkStatus();
    }
    case GgufValueType::kString: {
      auto s = r.ReadString(what);
      if (!s.ok()) return s.status();
      v.s = *std::move(s);
      return absl::OkStatus();
    }
    case GgufValueType::kArray:
      break;
  }
  return absl::InternalError("ReadScalar: not a scalar type");
}

// Reads a value of type `t`; `depth` counts the enclosing arrays.
absl::Status ReadValue(Reader& r, const std::string& file, const std::string& key,
                       GgufValueType t, int depth, GgufValue& v) {
  v.type = t;
  if (MinValueBytes(t) < 0) {
    return BadValue(file, key, absl::StrCat("unknown value type ", static_cast<uint32_t>(t)));
  }
  if (t != GgufValueType::kArray) {
    absl::Status s = ReadScalar(r, t, absl::StrCat("the value of \"", key, "\""), v);
    return s.ok() ? s : BadValue(file, key, s.message());
  }
  if (depth >= GgufFile::kMaxArrayDepth) {
    return BadValue(file, key, absl::StrCat("arrays nested deeper than ", GgufFile::kMaxArrayDepth));
  }
  auto elem_type = r.Read<uint32_t>("an array's element type");
  if (!elem_type.ok()) return BadValue(file, key, elem_type.status().message());
  v.array_type = static_cast<GgufValueType>(*elem_type);
  const int64_t min_bytes = MinValueBytes(v.array_type);
  if (min_bytes < 0) {
    return BadValue(file, key, absl::StrCat("unknown array element type ", *elem_type));
  }
  auto count = r.Read<uint64_t>("an array's length");
  if (!count.ok()) return BadValue(file, key, count.status().message());
  // Each element takes at least min_bytes: a count the rest of the file cannot
  // hold is rejected before anything is allocated.
  if (*count > r.remaining() / static_cast<uint64_t>(min_bytes)) {
    return BadValue(file, key, absl::StrCat("array of ", *count, " ",
                                            GgufValueTypeName(v.array_type), " elements at offset ",
                                            r.offset(), " runs past the end of the file (",
                                            r.remaining(), " bytes left)"));
  }
  const std::size_t n = static_cast<std::size_t>(*count);
  if (v.array_type == GgufValueType::kString) {
    v.strings.reserve(std::min<std::size_t>(n, kMaxReserve));
    for (std::size_t i = 0; i < n; ++i) {
      auto s = r.ReadString(absl::StrCat("element ", i));
      if (!s.ok()) return BadValue(file, key, s.status().message());
      v.strings.push_back(*std::move(s));
    }
  } else if (v.array_type == GgufValueType::kArray) {
    v.arrays.reserve(std::min<std::size_t>(n, kMaxReserve));
    for (std::size_t i = 0; i < n; ++i) {
      GgufValue element;
      if (auto s = ReadValue(r, file, key, GgufValueType::kArray, depth + 1, element); !s.ok()) {
        return s;
      }
      v.arrays.push_back(std::move(element));
    }
  } else {
    v.numbers.reserve(std::min<std::size_t>(n, kMaxReserve));
    GgufValue e;
    for (std::size_t i = 0; i < n; ++i) {
      absl::Status s = ReadScalar(r, v.array_type, absl::StrCat("element ", i), e);
      if (!s.ok()) return BadValue(file, key, s.message());
      v.numbers.push_back(e.f);
    }
  }
  return absl::OkStatus();
}

absl::Status TypeError(const std::string& file, absl::string_view key, absl::string_view want,
                       const GgufValue& v) {
  std::string got = GgufValueTypeName(v.type);
  if (v.type == GgufValueType::kArray) got = absl::StrCat("array of ", GgufValueTypeName(v.array_type));
  return BadValue(file, key, absl::StrCat("expected ", want, ", found ", got));
}

}  // namespace

std::string GgufValueTypeName(GgufValueType t) {
  static constexpr const char* kNames[] = {"uint8",   "int8",  "uint16", "int16", "uint32",
                                           "int32",   "float32", "bool", "string", "array",
                                           "uint64",  "int64", "float64"};
  const auto i = static_cast<uint32_t>(t);
  return i < std::size(kNames) ? kNames[i] : absl::StrCat("type ", i);
}

bool GgufValue::is_integer() const {
  return type != GgufValueType::kFloat32 && type != GgufValueType::kFloat64 &&
         type != GgufValueType::kString && type != GgufValueType::kArray &&
         MinValueBytes(type) > 0;
}

std::string GgmlTypeName(uint32_t ggml_type) {
  if (ggml_type < std::size(kGgmlTypeNames) && kGgmlTypeNames[ggml_type][0] != '\0') {
    return kGgmlTypeNames[ggml_type];
  }
  return absl::StrCat("type ", ggml_type);
}

absl::StatusOr<DType> DTypeFromGgmlType(uint32_t ggml_type) {
  switch (ggml_type) {
    case 0: return DType::kF32;
    case 1: return DType::kF16;
    case 2: return DType::kQ4_0;
    case 8: return DType::kQ8_0;
    case 12: return DType::kQ4_K;
    case 14: return DType::kQ6_K;
    case 30: return DType::kBF16;
    default: break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("ggml tensor type ", GgmlTypeName(ggml_type), " (", ggml_type,
                   ") is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K are)"));
}

absl::StatusOr<GgufFile> GgufFile::Open(const std::string& path) {
  auto file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  const uint8_t* data = (*file)->data();
  const std::size_t size = (*file)->size();
  return Parse(*std::move(file), data, size, path);
}

bool GgufFile::HasMagic(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[4] = {};
  const bool ok = std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
  std::fclose(f);
  return ok;
}

absl::StatusOr<GgufFile> GgufFile::Parse(std::shared_ptr<const void> owner, const uint8_t* data,
                                         std::size_t size, std::string name) {
  GgufFile g;
  g.name_ = std::move(name);
  g.owner_ = std::move(owner);
  g.data_ = data;
  g.size_ = size;
  const std::string& file = g.name_;
  auto invalid = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", parts...));
  };
  Reader r(data, size, file);

  auto magic = r.Read<uint32_t>("the magic");
  if (!magic.ok()) return magic.status();
  if (*magic != kMagic) return invalid("not a GGUF file (the first 4 bytes are not \"GGUF\")");
  auto version = r.Read<uint32_t>("the version");
  if (!version.ok()) return version.status();
  if (*version != 2 && *version != 3) {
    // A big-endian file has its version byte-swapped (e.g. 0x03000000).
    const bool swapped = *version > 0xffff;
    return invalid("GGUF version ", *version, " is not supported (2 and 3 are)",
                   swapped ? "; this looks like a big-endian file" : "");
  }
  g.version_ = *version;
  auto tensor_count = r.Read<uint64_t>("the tensor count");
  if (!tensor_count.ok()) return tensor_count.status();
  auto kv_count = r.Read<uint64_t>("the metadata count");
  if (!kv_count.ok()) return kv_count.status();
  // A key/value takes ≥ 8 + 4 + 1 bytes, a tensor info ≥ 8 + 4 + 8 + 4 + 8.
  if (*kv_count > r.remaining() / 13) {
    return invalid("metadata count ", *kv_count, " cannot fit in the file (", size, " bytes)");
  }
  if (*tensor_count > r.remaining() / 32) {
    return invalid("tensor count ", *tensor_count, " cannot fit in the file (", size, " bytes)");
  }

  g.metadata_.reserve(std::min<std::size_t>(*kv_count, kMaxReserve));
  for (uint64_t k = 0; k < *kv_count; ++k) {
    auto key = r.ReadString(absl::StrCat("metadata key ", k));
    if (!key.ok()) return key.status();
    auto type = r.Read<uint32_t>(absl::StrCat("the type of metadata key \"", *key, "\""));
    if (!type.ok()) return type.status();
    GgufValue value;
    if (auto s = ReadValue(r, file, *key, static_cast<GgufValueType>(*type), 0, value); !s.ok()) {
      return s;
    }
    if (!g.metadata_index_.emplace(*key, g.metadata_.size()).second) {
      return invalid("metadata key \"", *key, "\" appears twice");
    }
    g.metadata_.emplace_back(*std::move(key), std::move(value));
  }

  if (const GgufValue* a = g.Find("general.alignment"); a != nullptr) {
    if (a->type != GgufValueType::kUint32) return TypeError(file, "general.alignment", "uint32", *a);
    if (a->u == 0 || (a->u & (a->u - 1)) != 0) {
      return BadValue(file, "general.alignment", absl::StrCat(a->u, " is not a power of two"));
    }
    g.alignment_ = static_cast<uint32_t>(a->u);
  }

  g.tensors_.reserve(std::min<std::size_t>(*tensor_count, kMaxReserve));
  for (uint64_t t = 0; t < *tensor_count; ++t) {
    GgufTensorInfo info;
    auto tname = r.ReadString(absl::StrCat("the name of tensor ", t));
    if (!tname.ok()) return tname.status();
    info.name = *std::move(tname);
    const std::string where = absl::StrCat("tensor \"", info.name, "\"");
    auto n_dims = r.Read<uint32_t>(absl::StrCat("the dimension count of ", where));
    if (!n_dims.ok()) return n_dims.status();
    if (*n_dims < 1 || *n_dims > kMaxDims) {
      return invalid(where, " has ", *n_dims, " dimensions (1 to ", kMaxDims, " allowed)");
    }
    int64_t elements = 1;
    for (uint32_t d = 0; d < *n_dims; ++d) {
      auto ne = r.Read<uint64_t>(absl::StrCat("dimension ", d, " of ", where));
      if (!ne.ok()) return ne.status();
      if (*ne < 1 || *ne > static_cast<uint64_t>(kMaxDim)) {
        return invalid(where, " dimension ", d, " is ", *ne, " (1 to ", kMaxDim, " allowed)");
      }
      const int64_t n = static_cast<int64_t>(*ne);
      if (elements > kMaxElements / n) return invalid(where, " has too many elements");
      elements *= n;
      info.ne.push_back(n);
    }
    info.shape.assign(info.ne.rbegin(), info.ne.rend());
    auto type = r.Read<uint32_t>(absl::StrCat("the type of ", where));
    if (!type.ok()) return type.status();
    info.ggml_type = *type;
    auto dtype = DTypeFromGgmlType(*type);
    if (!dtype.ok()) return invalid(where, ": ", dtype.status().message());
    info.dtype = *dtype;
    auto offset = r.Read<uint64_t>(absl::StrCat("the offset of ", where));
    if (!offset.ok()) return offset.status();
    info.offset = *offset;
    const int64_t row_bytes = DTypeRowBytes(info.dtype, info.ne[0]);
    if (row_bytes < 0) {
      return invalid(where, " of type ", GgmlTypeName(*type), ": rows of ", info.ne[0],
                     " values are not whole blocks of ", DTypeBlockElements(info.dtype));
    }
    info.num_bytes = elements / info.ne[0] * row_bytes;  // ≤ 2^50 · 8: no overflow
    if (!g.tensor_index_.emplace(info.name, g.tensors_.size()).second) {
      return invalid("tensor \"", info.name, "\" appears twice");
    }
    g.tensors_.push_back(std::move(info));
  }

  const uint64_t header_end = r.offset();
  g.data_offset_ = (header_end + g.alignment_ - 1) / g.alignment_ * g.alignment_;
  const uint64_t data_size = g.data_offset_ <= size ? size - g.data_offset_ : 0;
  if (!g.tensors_.empty() && g.data_offset_ > size) {
    return invalid("the data section would start at offset ", g.data_offset_,
                   " (header end ", header_end, " aligned to ", g.alignment_,
                   "), beyond the end of the file (", size, " bytes)");
  }
  for (const GgufTensorInfo& info : g.tensors_) {
    if (info.offset % g.alignment_ != 0) {
      return invalid("tensor \"", info.name, "\" offset ", info.offset,
                     " is not a multiple of the alignment ", g.alignment_);
    }
    if (info.offset > data_size || static_cast<uint64_t>(info.num_bytes) > data_size - info.offset) {
      return invalid("tensor \"", info.name, "\" (", GgmlTypeName(info.ggml_type), " ",
                     ShapeString(info.shape), ", ", info.num_bytes, " bytes at data offset ",
                     info.offset, ") runs past the end of the file: the data section has ",
                     data_size, " bytes (truncated file?)");
    }
  }
  return g;
}

const GgufValue* GgufFile::Find(absl::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

absl::StatusOr<std::string> GgufFile::GetString(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(name_, ": no metadata key \"", key, "\""));
  if (v->type != GgufValueType::kString) return TypeError(name_, key, "a string", *v);
  return v->s;
}

absl::StatusOr<int64_t> GgufFile::GetInt(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(name_, ": no metadata key \"", key, "\""));
  if (!v->is_integer()) return TypeError(name_, key, "an integer", *v);
  if (v->type == GgufValueType::kUint64 && v->u > static_cast<uint64_t>(INT64_MAX)) {
    return BadValue(name_, key, absl::StrCat(v->u, " is out of range"));
  }
  return v->i;
}

absl::StatusOr<double> GgufFile::GetFloat(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(name_, ": no metadata key \"", key, "\""));
  if (!v->is_float() && !v->is_integer()) return TypeError(name_, key, "a number", *v);
  return v->f;
}

absl::StatusOr<std::vector<std::string>> GgufFile::GetStringArray(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(name_, ": no metadata key \"", key, "\""));
  if (v->type != GgufValueType::kArray || v->array_type != GgufValueType::kString) {
    return TypeError(name_, key, "an array of string", *v);
  }
  return v->strings;
}

absl::StatusOr<std::vector<double>> GgufFile::GetNumberArray(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(name_, ": no metadata key \"", key, "\""));
  if (v->type != GgufValueType::kArray || v->array_type == GgufValueType::kString ||
      v->array_type == GgufValueType::kArray) {
    return TypeError(name_, key, "an array of numbers", *v);
  }
  return v->numbers;
}

const GgufTensorInfo* GgufFile::FindTensor(absl::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<HostTensor> GgufFile::GetTensor(absl::string_view name) const {
  const GgufTensorInfo* info = FindTensor(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat(name_, ": no tensor \"", name, "\""));
  }
  return HostTensor::View(info->dtype, info->shape, data_ + data_offset_ + info->offset, owner_);
}

}  // namespace llmserve
