// HugePageBuffer: 2 MiB-aligned, zero-filled, exactly the requested (4 KiB-
// rounded) mapping, advised for transparent huge pages unless
// LLMSERVE_HUGE_PAGES=0 — checked against the kernel's own view of the
// mapping (/proc/self/smaps: its range and the `hg` VmFlag that
// madvise(MADV_HUGEPAGE) sets). ctest runs this binary twice: as is, and with
// LLMSERVE_HUGE_PAGES=0 (tests/CMakeLists.txt).
#include "engine/common/huge_page_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

namespace llmserve {
namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;

/// The smaps entry of the mapping that contains `p`: its range and VmFlags.
struct Mapping {
  std::uintptr_t start = 0, end = 0;
  std::string vm_flags;
};

Mapping FindMapping(const void* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  Mapping found;
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream header(line);
    if (header >> std::hex >> start >> dash >> end && dash == '-') {
      inside = start <= addr && addr < end;
      if (inside) found = Mapping{start, end, ""};
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      found.vm_flags = line.substr(8) + " ";
    }
  }
  return found;
}

/// What this process's environment asks for (read here, independently of
/// HugePagesEnabled()).
bool HugePagesRequested() {
  const char* v = std::getenv("LLMSERVE_HUGE_PAGES");
  return v == nullptr || std::string(v) != "0";
}

TEST(HugePageBufferTest, MapsAnAlignedZeroedWritableRegionFromItsStart) {
  const std::size_t bytes = 3 * kHugePage + 100;  // mapped as 6 MiB + 4 KiB
  absl::StatusOr<HugePageBuffer> buffer = HugePageBuffer::Allocate(bytes);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  ASSERT_NE(buffer->data(), nullptr);
  EXPECT_EQ(buffer->size(), bytes);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buffer->data()) % kHugePage, 0u);
  const auto* bytes_in = static_cast<const unsigned char*>(buffer->data());
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < bytes; ++i) nonzero += bytes_in[i] != 0;
  EXPECT_EQ(nonzero, 0u);
  std::memset(buffer->data(), 0xab, bytes);  // every byte writable

  const Mapping m = FindMapping(buffer->data());
  EXPECT_EQ(m.start, reinterpret_cast<std::uintptr_t>(buffer->data()));
  // The mapping ends at the 4 KiB-rounded size (the partial last 2 MiB extent
  // stays in small pages) — unless the kernel merged it with a neighbour.
  EXPECT_GE(m.end - m.start, 3 * kHugePage + 4096);
  EXPECT_EQ((m.end - m.start) % 4096, 0u);
}

TEST(HugePageBufferTest, AdvisesHugePagesUnlessDisabled) {
  absl::StatusOr<HugePageBuffer> buffer = HugePageBuffer::Allocate(kHugePage);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  const bool requested = HugePagesRequested();
  EXPECT_EQ(HugePagesEnabled(), requested);
  EXPECT_EQ(buffer->huge_pages_advised(), requested);
  const Mapping m = FindMapping(buffer->data());
  ASSERT_FALSE(m.vm_flags.empty()) << "no smaps entry for the buffer";
  EXPECT_EQ(m.vm_flags.find(" hg ") != std::string::npos, requested) << m.vm_flags;
  const std::string description = HugePagesDescription();
  if (!requested) {
    EXPECT_EQ(description, "4 KiB pages (LLMSERVE_HUGE_PAGES=0)");
  } else {
    EXPECT_TRUE(description.rfind("2 MiB pages advised for ", 0) == 0 ||
                description == "4 KiB pages (THP never)")
        << description;
  }
}

TEST(HugePageBufferTest, CountsAdvisedBytesWhileAlive) {
  const std::size_t before = HugePageBytesAdvised();
  {
    absl::StatusOr<HugePageBuffer> a = HugePageBuffer::Allocate(kHugePage + 1);
    ASSERT_TRUE(a.ok());
    const std::size_t expected = HugePagesRequested() ? kHugePage + 4096 : 0;
    EXPECT_EQ(HugePageBytesAdvised(), before + expected);
    HugePageBuffer moved = *std::move(a);  // ownership moves; counted once
    EXPECT_EQ(a->data(), nullptr);
    EXPECT_EQ(HugePageBytesAdvised(), before + expected);
    HugePageBuffer target;
    target = std::move(moved);
    EXPECT_EQ(moved.data(), nullptr);
    ASSERT_NE(target.data(), nullptr);
    static_cast<char*>(target.data())[kHugePage] = 1;  // the last byte's page is still mapped
    EXPECT_EQ(HugePageBytesAdvised(), before + expected);
  }
  EXPECT_EQ(HugePageBytesAdvised(), before);
}

TEST(HugePageBufferTest, ZeroBytesIsAnError) {
  absl::StatusOr<HugePageBuffer> buffer = HugePageBuffer::Allocate(0);
  EXPECT_EQ(buffer.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace llmserve
