#ifndef LLMSERVE_ENGINE_COMMON_MAPPED_FILE_H_
#define LLMSERVE_ENGINE_COMMON_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace llmserve {

/// A read-only memory-mapped file (POSIX mmap). Empty files are allowed
/// (data() is nullptr, size() is 0). Movable through shared_ptr only, so that
/// tensors viewing the mapping can keep it alive.
class MappedFile {
 public:
  /// Maps `path` read-only.
  /// Errors: NOT_FOUND if the file does not exist, INVALID_ARGUMENT if it is
  /// not a regular file, INTERNAL for other open/mmap failures; each names the path.
  static absl::StatusOr<std::shared_ptr<const MappedFile>> Open(const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  /// File size in bytes.
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, std::size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  std::size_t size_;
};

/// Drops the pages wholly inside [data, data + size) from this process's
/// resident set if that range lies inside a live MappedFile (madvise
/// MADV_DONTNEED on a read-only private file mapping: nothing is lost, a later
/// access faults the page back in from the file). Used after a weight was
/// copied (e.g. repacked) out of a mapped checkpoint, so that the copy does
/// not double the RSS. Returns the bytes released (0 if the range is not in a
/// mapping, e.g. a heap buffer, which is left untouched).
std::size_t ReleaseMappedPages(const void* data, std::size_t size);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_COMMON_MAPPED_FILE_H_
