#ifndef LLMSERVE_ENGINE_COMMON_HUGE_PAGE_BUFFER_H_
#define LLMSERVE_ENGINE_COMMON_HUGE_PAGE_BUFFER_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace llmserve {

/// A zero-filled, 2 MiB-aligned anonymous memory region for data streamed on
/// every decode step (packed weights), advised for transparent huge pages
/// (Linux `madvise(MADV_HUGEPAGE)`, effective when
/// /sys/kernel/mm/transparent_hugepage/enabled is `always` or `madvise`).
/// The mapping ends at the size rounded up to 4 KiB, so a partial last 2 MiB
/// extent stays in 4 KiB pages and nothing beyond the request is backed.
/// Why: with the packed weights in 4 KiB pages the streamed GEMV ran 3-8 %
/// slower standalone and batch-1 decode steps 4-13 % slower
/// (docs/benchmarks.md, "Weights in 2 MiB pages"); every 4 KiB of the stream
/// is a TLB entry and a boundary the hardware prefetchers stop at.
/// `LLMSERVE_HUGE_PAGES=0` in the environment skips the advice (4 KiB pages).
/// Move-only; unmaps on destruction.
class HugePageBuffer {
 public:
  /// Maps `bytes` (> 0). Errors: kResourceExhausted when the mapping fails
  /// (naming the size), kInvalidArgument for 0 bytes.
  static absl::StatusOr<HugePageBuffer> Allocate(std::size_t bytes);

  HugePageBuffer() = default;
  HugePageBuffer(HugePageBuffer&& other) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  ~HugePageBuffer();

  void* data() const { return data_; }
  /// Bytes requested.
  std::size_t size() const { return size_; }
  /// Whether madvise(MADV_HUGEPAGE) was issued and accepted (the kernel may
  /// still back some extents with 4 KiB pages, e.g. under fragmentation).
  bool huge_pages_advised() const { return advised_; }

 private:
  void Release();
  void* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;
  bool advised_ = false;
};

/// Whether HugePageBuffer advises huge pages in this process
/// (`LLMSERVE_HUGE_PAGES` unset or not "0"). Read once.
bool HugePagesEnabled();

/// Bytes of live HugePageBuffers whose huge-page advice was accepted.
std::size_t HugePageBytesAdvised();

/// One line for the kernel report (startup log, `--print-kernels`,
/// GetModelInfo): e.g. "2 MiB pages advised for 247.5 MB (THP madvise)",
/// "4 KiB pages (LLMSERVE_HUGE_PAGES=0)" or "4 KiB pages (THP never)"; the
/// mode is the bracketed one of /sys/kernel/mm/transparent_hugepage/enabled.
std::string HugePagesDescription();

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_COMMON_HUGE_PAGE_BUFFER_H_
