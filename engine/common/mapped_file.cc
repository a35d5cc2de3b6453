#include "engine/common/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace llmserve {
namespace {

/// The live mappings: start address → size (for ReleaseMappedPages).
struct Mappings {
  std::mutex mu;
  std::map<const uint8_t*, std::size_t> ranges;
};
Mappings& LiveMappings() {
  static Mappings* m = new Mappings;
  return *m;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const MappedFile>> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::InternalError(absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat(path, ": cannot stat: ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  const uint8_t* data = nullptr;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat(path, ": mmap failed: ", std::strerror(err)));
    }
    data = static_cast<const uint8_t*>(p);
    Mappings& m = LiveMappings();
    std::lock_guard<std::mutex> lock(m.mu);
    m.ranges[data] = size;
  }
  ::close(fd);
  return std::shared_ptr<const MappedFile>(new MappedFile(path, data, size));
}

MappedFile::~MappedFile() {
  if (data_ == nullptr) return;
  {
    Mappings& m = LiveMappings();
    std::lock_guard<std::mutex> lock(m.mu);
    m.ranges.erase(data_);
  }
  ::munmap(const_cast<uint8_t*>(data_), size_);
}

std::size_t ReleaseMappedPages(const void* data, std::size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  Mappings& m = LiveMappings();
  std::lock_guard<std::mutex> lock(m.mu);
  auto it = m.ranges.upper_bound(p);
  if (it == m.ranges.begin()) return 0;
  --it;
  if (p + size > it->first + it->second) return 0;  // not (wholly) inside this mapping
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + size) / page * page;
  if (end <= begin) return 0;
  if (::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) != 0) return 0;
  return end - begin;
}

}  // namespace llmserve
