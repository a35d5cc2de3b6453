#ifndef LLMSERVE_ENGINE_LOADERS_SAFETENSORS_H_
#define LLMSERVE_ENGINE_LOADERS_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/common/dtype.h"
#include "engine/common/host_tensor.h"

namespace llmserve {

/// Largest JSON header accepted, in bytes (the limit of the reference
/// implementation, huggingface/safetensors).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

/// Most dimensions a tensor may have (real checkpoints use at most 5).
inline constexpr std::size_t kSafetensorsMaxRank = 16;

/// One tensor of a safetensors header, after validation.
struct SafetensorsEntry {
  std::string name;
  /// The dtype string as written in the file ("F32", "I64", ...).
  std::string dtype_name;
  /// Set for the dtypes llmserve can load (F32, F16, BF16); empty for the
  /// other dtypes of the format (BOOL, U8, I8, F8_*, I16, U16, I32, U32, I64,
  /// U64, F64), whose byte ranges are still validated.
  std::optional<DType> dtype;
  /// Dimensions, outermost first (row-major). Empty for a scalar.
  std::vector<int64_t> shape;
  /// Byte range [begin, end) relative to the start of the data section.
  uint64_t begin = 0;
  uint64_t end = 0;
};

/// A validated safetensors file (https://github.com/huggingface/safetensors,
/// "Format"): an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// `{name: {"dtype": str, "shape": [uint...], "data_offsets": [begin, end]},
/// "__metadata__": {str: str} (optional)}`, then the data section, row-major
/// little-endian.
///
/// Opening checks everything a reader could trip over, so later lookups never
/// read out of bounds: the file holds at least the 8-byte length; 0 < N ≤
/// kSafetensorsMaxHeaderBytes and 8 + N ≤ file size; the header starts with '{',
/// is valid JSON, an object, without duplicate keys; every entry is an object
/// with `dtype` (a known safetensors dtype string), `shape` (array of at most
/// kSafetensorsMaxRank non-negative integers whose element count and byte size
/// fit in int64) and
/// `data_offsets` (two non-negative integers, begin ≤ end ≤ data size; other
/// keys are ignored, as the reference implementation does); the
/// byte size equals product(shape) × dtype size; and, as the reference
/// implementation requires, the byte ranges tile the data section exactly
/// (no overlap, no gap, no trailing bytes).
///
/// Every error is INVALID_ARGUMENT (NOT_FOUND / INTERNAL from opening the file)
/// whose message starts with the file path and names the tensor at fault.
class SafetensorsFile {
 public:
  /// Memory-maps and validates `path`. Tensors are views into the mapping.
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  /// Validates `size` bytes at `data` as a safetensors file. `owner` keeps the
  /// bytes alive (tensors returned by GetTensor share it); `path` only names
  /// the file in messages. Used by Open and by the fuzzer.
  static absl::StatusOr<SafetensorsFile> Parse(std::shared_ptr<const void> owner,
                                               const uint8_t* data, std::size_t size,
                                               std::string path);

  /// The path given to Open / Parse.
  const std::string& path() const { return path_; }

  /// Tensor names, sorted.
  std::vector<std::string> names() const;
  std::size_t size() const { return entries_.size(); }
  bool Contains(const std::string& name) const { return index_.contains(name); }

  /// The header entry of `name`, or nullptr.
  const SafetensorsEntry* FindEntry(const std::string& name) const;

  /// The tensor `name`: a zero-copy view into the file (kept alive by the
  /// returned tensor's owner) — or, if its data is not aligned to its element
  /// size (the header length is free-form), an aligned owned copy in the same dtype.
  /// Errors: NOT_FOUND if absent; INVALID_ARGUMENT naming the tensor and its
  /// dtype if the dtype is not F32, F16 or BF16.
  absl::StatusOr<HostTensor> GetTensor(const std::string& name) const;

  /// The `__metadata__` map (empty if absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;

  std::string path_;
  std::shared_ptr<const void> owner_;
  const uint8_t* data_section_ = nullptr;  // start of the data section
  std::vector<SafetensorsEntry> entries_;  // sorted by name
  absl::flat_hash_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

/// The safetensors weights of a Hugging Face model directory, either one file
/// `model.safetensors` or shards listed by `model.safetensors.index.json`
/// (`{"metadata": {...}, "weight_map": {tensor name: shard file name}}`, as
/// written by transformers' `save_pretrained`). The index takes precedence.
///
/// For a sharded checkpoint: `weight_map` must be an object of strings; shard
/// names must be plain file names in the directory (no '/', '\\', "." or "..");
/// each mapped tensor must be in its shard; no tensor may be in two shards; and
/// every tensor of a shard must be listed in the index.
class SafetensorsCheckpoint {
 public:
  /// Opens the checkpoint in directory `dir`.
  /// Errors: NOT_FOUND naming both file names if neither exists; the errors of
  /// SafetensorsFile::Open; INVALID_ARGUMENT naming the index file and the
  /// tensor or shard for an inconsistent index.
  static absl::StatusOr<SafetensorsCheckpoint> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  /// Tensor names over all files, sorted.
  std::vector<std::string> names() const;
  std::size_t size() const { return index_.size(); }
  bool Contains(const std::string& name) const { return index_.contains(name); }
  /// The files (one, or the shards in name order).
  const std::vector<SafetensorsFile>& files() const { return files_; }

  /// The header entry of `name`, or nullptr.
  const SafetensorsEntry* FindEntry(const std::string& name) const;
  /// The path of the file holding `name` (empty if absent).
  std::string FileOf(const std::string& name) const;
  /// See SafetensorsFile::GetTensor.
  absl::StatusOr<HostTensor> GetTensor(const std::string& name) const;

 private:
  SafetensorsCheckpoint() = default;

  std::string dir_;
  std::vector<SafetensorsFile> files_;
  absl::flat_hash_map<std::string, std::size_t> index_;  // tensor → files_ index
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LOADERS_SAFETENSORS_H_
