#include "engine/common/huge_page_buffer.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace llmserve {
namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kPage = 4096;

std::atomic<std::size_t> g_advised_bytes{0};

/// The kernel's transparent-huge-page mode ("always", "madvise", "never"), or
/// "unavailable" without /sys/kernel/mm/transparent_hugepage.
std::string ThpMode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t open = text.find('['), close = text.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "unavailable";
  return text.substr(open + 1, close - open - 1);
}

}  // namespace

std::size_t HugePageBytesAdvised() { return g_advised_bytes.load(); }

std::string HugePagesDescription() {
  if (!HugePagesEnabled()) return "4 KiB pages (LLMSERVE_HUGE_PAGES=0)";
  const std::string mode = ThpMode();
  if (mode == "never" || mode == "unavailable") return absl::StrCat("4 KiB pages (THP ", mode, ")");
  return absl::StrFormat("2 MiB pages advised for %.1f MB (THP %s)",
                         static_cast<double>(HugePageBytesAdvised()) / 1e6, mode);
}

bool HugePagesEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("LLMSERVE_HUGE_PAGES");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return enabled;
}

absl::StatusOr<HugePageBuffer> HugePageBuffer::Allocate(std::size_t bytes) {
  if (bytes == 0) return absl::InvalidArgumentError("HugePageBuffer of 0 bytes");
  const std::size_t size = (bytes + kPage - 1) / kPage * kPage;
  // Reserve size + 2 MiB, keep the 2 MiB-aligned [start, start + size).
  const std::size_t reserve = size + kHugePage;
  void* p = mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot map ", bytes, " bytes: ", std::strerror(errno)));
  }
  const auto base = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t start = (base + kHugePage - 1) / kHugePage * kHugePage;
  if (start > base) munmap(p, start - base);
  const std::uintptr_t end = start + size, reserve_end = base + reserve;
  if (reserve_end > end) munmap(reinterpret_cast<void*>(end), reserve_end - end);
  HugePageBuffer buffer;
  buffer.data_ = reinterpret_cast<void*>(start);
  buffer.size_ = bytes;
  buffer.mapped_ = size;
  if (HugePagesEnabled()) buffer.advised_ = madvise(buffer.data_, size, MADV_HUGEPAGE) == 0;
  if (buffer.advised_) g_advised_bytes += size;
  return buffer;
}

HugePageBuffer::HugePageBuffer(HugePageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)),
      advised_(std::exchange(other.advised_, false)) {}

void HugePageBuffer::Release() {
  if (data_ == nullptr) return;
  if (advised_) g_advised_bytes -= mapped_;
  munmap(data_, mapped_);
  data_ = nullptr;
}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    advised_ = std::exchange(other.advised_, false);
  }
  return *this;
}

HugePageBuffer::~HugePageBuffer() { Release(); }

}  // namespace llmserve
