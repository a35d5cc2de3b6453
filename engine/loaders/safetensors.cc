#include "engine/loaders/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/loaders/json_describe.h"
#include "absl/strings/str_join.h"
#include "engine/common/mapped_file.h"
#include "nlohmann/json.hpp"

namespace llmserve {
namespace {

using Json = nlohmann::json;

// The dtypes of the safetensors format with a whole number of bytes per element
// (safetensors/src/tensor.rs, `Dtype`), and which of them llmserve loads.
struct DTypeInfo {
  const char* name;
  uint64_t size;
  std::optional<DType> dtype;
};
constexpr DTypeInfo kDTypes[] = {
    {"BOOL", 1, std::nullopt},    {"U8", 1, std::nullopt},      {"I8", 1, std::nullopt},
    {"F8_E5M2", 1, std::nullopt}, {"F8_E4M3", 1, std::nullopt}, {"I16", 2, std::nullopt},
    {"U16", 2, std::nullopt},     {"F16", 2, DType::kF16},      {"BF16", 2, DType::kBF16},
    {"I32", 4, std::nullopt},     {"U32", 4, std::nullopt},     {"F32", 4, DType::kF32},
    {"F64", 8, std::nullopt},     {"I64", 8, std::nullopt},     {"U64", 8, std::nullopt},
};

const DTypeInfo* FindDType(const std::string& name) {
  for (const DTypeInfo& d : kDTypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

uint64_t DTypeSizeOf(const SafetensorsEntry& e) {
  const DTypeInfo* d = FindDType(e.dtype_name);
  return d == nullptr ? 1 : d->size;
}

absl::Status Invalid(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::Status InvalidTensor(const std::string& path, const std::string& name,
                           const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "' ", what));
}

// Parses JSON text, rejecting duplicate keys in any object (nlohmann keeps the
// last one silently, which would let a header alias two ranges under one name).
absl::StatusOr<Json> ParseJsonNoDuplicates(const char* begin, const char* end,
                                           const std::string& path, const std::string& what) {
  std::vector<absl::flat_hash_set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json json;
  try {
    json = Json::parse(begin, end, callback);
  } catch (const Json::exception& e) {
    return Invalid(path, absl::StrCat(what, " is not valid JSON: ", e.what()));
  }
  if (!duplicate.empty()) {
    return Invalid(path, absl::StrCat(what, " has the key '", duplicate, "' more than once"));
  }
  return json;
}


std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// A non-negative JSON integer, or nullopt.
std::optional<uint64_t> AsUnsigned(const Json& j) {
  if (!j.is_number_unsigned()) return std::nullopt;
  return j.get<uint64_t>();
}

absl::StatusOr<SafetensorsEntry> ParseEntry(const std::string& path, const std::string& name,
                                            const Json& value, uint64_t data_size) {
  if (!value.is_object()) return InvalidTensor(path, name, "header entry is not a JSON object");
  SafetensorsEntry e;
  e.name = name;

  const auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string()) {
    return InvalidTensor(path, name, "has no string field 'dtype'");
  }
  e.dtype_name = dtype_it->get<std::string>();
  const DTypeInfo* info = FindDType(e.dtype_name);
  if (info == nullptr) {
    return InvalidTensor(path, name, absl::StrCat("has unknown dtype '", e.dtype_name, "'"));
  }
  e.dtype = info->dtype;

  const auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array()) {
    return InvalidTensor(path, name, "has no array field 'shape'");
  }
  if (shape_it->size() > kSafetensorsMaxRank) {
    return InvalidTensor(path, name, absl::StrCat("has ", shape_it->size(),
                                                  " dimensions, over the limit of ",
                                                  kSafetensorsMaxRank));
  }
  // Every prefix product must fit in int64 so HostTensor::num_elements never overflows.
  uint64_t elements = 1;
  for (std::size_t i = 0; i < shape_it->size(); ++i) {
    const Json& d = (*shape_it)[i];
    const std::optional<uint64_t> dim = AsUnsigned(d);
    if (!dim.has_value()) {
      return InvalidTensor(path, name,
                           absl::StrCat("has shape dimension ", i, " = ", DescribeJson(d),
                                        ", expected a non-negative integer"));
    }
    if (__builtin_mul_overflow(elements, *dim, &elements) ||
        elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        *dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidTensor(path, name,
                           absl::StrCat("has shape dimension ", i, " = ", *dim,
                                        ", making the element count overflow int64"));
    }
    e.shape.push_back(static_cast<int64_t>(*dim));
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(elements, info->size, &nbytes) ||
      nbytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return InvalidTensor(path, name,
                         absl::StrCat("has shape ", ShapeString(e.shape), " whose size overflows"));
  }

  const auto offsets_it = value.find("data_offsets");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !AsUnsigned((*offsets_it)[0]).has_value() || !AsUnsigned((*offsets_it)[1]).has_value()) {
    return InvalidTensor(path, name,
                         "has no field 'data_offsets' of two non-negative integers [begin, end]");
  }
  e.begin = *AsUnsigned((*offsets_it)[0]);
  e.end = *AsUnsigned((*offsets_it)[1]);
  if (e.begin > e.end) {
    return InvalidTensor(path, name,
                         absl::StrCat("has data_offsets [", e.begin, ", ", e.end, "] with begin > end"));
  }
  if (e.end > data_size) {
    return InvalidTensor(path, name,
                         absl::StrCat("has data_offsets [", e.begin, ", ", e.end,
                                      "] beyond the data section of ", data_size,
                                      " bytes (truncated file?)"));
  }
  if (e.end - e.begin != nbytes) {
    return InvalidTensor(
        path, name,
        absl::StrCat("has ", e.end - e.begin, " bytes (data_offsets [", e.begin, ", ", e.end,
                     "]) but shape ", ShapeString(e.shape), " of ", e.dtype_name, " needs ", nbytes));
  }
  return e;
}

// The byte ranges must tile [0, data_size) exactly, as the reference
// implementation requires (`validate` in safetensors/src/tensor.rs).
absl::Status CheckTiling(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                         uint64_t data_size) {
  std::vector<const SafetensorsEntry*> order;
  order.reserve(entries.size());
  for (const SafetensorsEntry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry* e : order) {
    if (e->begin < covered) {
      return InvalidTensor(path, e->name,
                           absl::StrCat("(bytes [", e->begin, ", ", e->end, ")) overlaps tensor '",
                                        previous->name, "' (bytes [", previous->begin, ", ",
                                        previous->end, "))"));
    }
    if (e->begin > covered) {
      return InvalidTensor(path, e->name,
                           absl::StrCat("starts at byte ", e->begin, " leaving a gap of ",
                                        e->begin - covered, " unused bytes before it"));
    }
    covered = e->end;
    previous = e;
  }
  if (covered != data_size) {
    return Invalid(path, absl::StrCat("the tensors cover ", covered, " bytes of the ", data_size,
                                      "-byte data section (trailing bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  absl::StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  const uint8_t* data = (*file)->data();
  const std::size_t size = (*file)->size();
  return Parse(std::shared_ptr<const void>(*std::move(file)), data, size, path);
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Parse(std::shared_ptr<const void> owner,
                                                       const uint8_t* data, std::size_t size,
                                                       std::string path) {
  if (size < 8 || data == nullptr) {
    return Invalid(path, absl::StrCat("file is ", size,
                                      " bytes, too short for the 8-byte safetensors header length"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  if (header_len == 0) return Invalid(path, "safetensors header length is 0");
  if (header_len > kSafetensorsMaxHeaderBytes) {
    return Invalid(path, absl::StrCat("safetensors header length ", header_len,
                                      " exceeds the limit of ", kSafetensorsMaxHeaderBytes, " bytes"));
  }
  if (header_len > size - 8) {
    return Invalid(path, absl::StrCat("safetensors header length ", header_len,
                                      " exceeds the ", size - 8,
                                      " bytes after the length field (truncated file?)"));
  }
  const char* header = reinterpret_cast<const char*>(data + 8);
  if (header[0] != '{') return Invalid(path, "safetensors header does not start with '{'");
  absl::StatusOr<Json> json = ParseJsonNoDuplicates(header, header + header_len, path, "header");
  if (!json.ok()) return json.status();
  if (!json->is_object()) return Invalid(path, "safetensors header is not a JSON object");

  SafetensorsFile file;
  file.path_ = std::move(path);
  file.owner_ = std::move(owner);
  file.data_section_ = data + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  for (const auto& [key, value] : json->items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) return Invalid(file.path_, "__metadata__ is not a JSON object");
      for (const auto& [mkey, mvalue] : value.items()) {
        if (!mvalue.is_string()) {
          return Invalid(file.path_, absl::StrCat("__metadata__ value of '", mkey,
                                                  "' is not a string: ", DescribeJson(mvalue)));
        }
        file.metadata_[mkey] = mvalue.get<std::string>();
      }
      continue;
    }
    absl::StatusOr<SafetensorsEntry> entry = ParseEntry(file.path_, key, value, data_size);
    if (!entry.ok()) return entry.status();
    file.entries_.push_back(*std::move(entry));
  }
  if (absl::Status s = CheckTiling(file.path_, file.entries_, data_size); !s.ok()) return s;
  std::sort(file.entries_.begin(), file.entries_.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
  for (std::size_t i = 0; i < file.entries_.size(); ++i) file.index_[file.entries_[i].name] = i;
  return file;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const SafetensorsEntry& e : entries_) out.push_back(e.name);
  return out;
}

const SafetensorsEntry* SafetensorsFile::FindEntry(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

absl::StatusOr<HostTensor> SafetensorsFile::GetTensor(const std::string& name) const {
  const SafetensorsEntry* e = FindEntry(name);
  if (e == nullptr) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor '", name, "'"));
  }
  if (!e->dtype.has_value()) {
    return InvalidTensor(path_, name,
                         absl::StrCat("has dtype ", e->dtype_name,
                                      ", which cannot be loaded (supported: F32, F16, BF16)"));
  }
  const uint8_t* p = data_section_ + e->begin;
  const uint64_t nbytes = e->end - e->begin;
  const uint64_t align = DTypeSizeOf(*e);
  if (nbytes == 0 || reinterpret_cast<uintptr_t>(p) % align == 0) {
    return HostTensor::View(*e->dtype, e->shape, p, owner_);
  }
  // Unaligned element data: an aligned copy (operator new aligns to >= 16 bytes).
  auto buffer = std::make_shared<std::vector<uint8_t>>(p, p + nbytes);
  const void* copy = buffer->data();
  return HostTensor::View(*e->dtype, e->shape, copy,
                          std::shared_ptr<const void>(std::move(buffer), copy));
}

// ---------------------------------------------------------------------------
// SafetensorsCheckpoint

namespace {

constexpr char kSingleFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";
constexpr uint64_t kMaxIndexBytes = 100'000'000;

bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

}  // namespace

absl::StatusOr<SafetensorsCheckpoint> SafetensorsCheckpoint::Open(const std::string& dir) {
  SafetensorsCheckpoint ckpt;
  ckpt.dir_ = dir;
  const std::string index_path = absl::StrCat(dir, "/", kIndexFile);
  absl::StatusOr<std::shared_ptr<const MappedFile>> index_file = MappedFile::Open(index_path);
  if (!index_file.ok() && !absl::IsNotFound(index_file.status())) return index_file.status();

  if (!index_file.ok()) {  // a single file
    const std::string single = absl::StrCat(dir, "/", kSingleFile);
    absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(single);
    if (absl::IsNotFound(file.status())) {
      return absl::NotFoundError(
          absl::StrCat(dir, ": neither ", kSingleFile, " nor ", kIndexFile, " exists"));
    }
    if (!file.ok()) return file.status();
    for (const std::string& name : file->names()) ckpt.index_[name] = 0;
    ckpt.files_.push_back(*std::move(file));
    return ckpt;
  }

  // Sharded: validate the index, then open each shard once.
  const MappedFile& index = **index_file;
  if (index.size() > kMaxIndexBytes) {
    return Invalid(index_path, absl::StrCat("index is ", index.size(), " bytes, over the limit of ",
                                            kMaxIndexBytes));
  }
  const char* text = reinterpret_cast<const char*>(index.data());
  absl::StatusOr<Json> json =
      ParseJsonNoDuplicates(text, text + index.size(), index_path, "index");
  if (!json.ok()) return json.status();
  if (!json->is_object()) return Invalid(index_path, "index is not a JSON object");
  const auto map_it = json->find("weight_map");
  if (map_it == json->end() || !map_it->is_object()) {
    return Invalid(index_path, "index has no object field 'weight_map'");
  }
  std::map<std::string, std::vector<std::string>> shards;  // shard → tensors, sorted
  absl::flat_hash_map<std::string, std::string> shard_of;
  for (const auto& [tensor, shard] : map_it->items()) {
    if (!shard.is_string()) {
      return Invalid(index_path, absl::StrCat("weight_map entry of tensor '", tensor,
                                              "' is not a string: ", DescribeJson(shard)));
    }
    const std::string shard_name = shard.get<std::string>();
    if (!IsPlainFileName(shard_name)) {
      return Invalid(index_path, absl::StrCat("weight_map maps tensor '", tensor, "' to '",
                                              shard_name, "', which is not a plain file name"));
    }
    shards[shard_name].push_back(tensor);
    shard_of[tensor] = shard_name;
  }
  for (const auto& [shard_name, tensors] : shards) {
    const std::string shard_path = absl::StrCat(dir, "/", shard_name);
    absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(shard_path);
    if (!file.ok()) {
      return absl::Status(file.status().code(),
                          absl::StrCat(index_path, ": shard '", shard_name, "' (holding tensor '",
                                       tensors.front(), "'): ", file.status().message()));
    }
    for (const std::string& tensor : tensors) {
      if (!file->Contains(tensor)) {
        return Invalid(index_path, absl::StrCat("weight_map puts tensor '", tensor,
                                                "' in shard '", shard_name,
                                                "', which does not contain it"));
      }
    }
    const std::size_t file_index = ckpt.files_.size();
    for (const std::string& tensor : file->names()) {
      const auto [it, inserted] = ckpt.index_.emplace(tensor, file_index);
      if (!inserted) {
        return Invalid(index_path, absl::StrCat("tensor '", tensor, "' is in two shards: '",
                                                ckpt.files_[it->second].path(), "' and '",
                                                shard_path, "'"));
      }
      const auto mapped = shard_of.find(tensor);
      if (mapped == shard_of.end()) {
        return Invalid(index_path, absl::StrCat("tensor '", tensor, "' of shard '", shard_name,
                                                "' is not listed in weight_map"));
      }
      if (mapped->second != shard_name) {
        return Invalid(index_path, absl::StrCat("tensor '", tensor, "' is in shard '", shard_name,
                                                "' but weight_map puts it in '", mapped->second,
                                                "'"));
      }
    }
    ckpt.files_.push_back(*std::move(file));
  }
  return ckpt;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, file] : index_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

const SafetensorsEntry* SafetensorsCheckpoint::FindEntry(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : files_[it->second].FindEntry(name);
}

std::string SafetensorsCheckpoint::FileOf(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? std::string() : files_[it->second].path();
}

absl::StatusOr<HostTensor> SafetensorsCheckpoint::GetTensor(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat(dir_, ": no tensor '", name, "' in the checkpoint"));
  }
  return files_[it->second].GetTensor(name);
}

}  // namespace llmserve
