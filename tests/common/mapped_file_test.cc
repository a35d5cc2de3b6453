// MappedFile and ReleaseMappedPages: the release drops a mapped range's pages
// from the process's resident set (/proc/self/smaps) without changing what
// the mapping reads, and leaves memory that is not a live mapping alone.
#include "engine/common/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace llmserve {
namespace {

// The Rss (kB) /proc/self/smaps reports for the mapping starting at `start`, or -1.
int64_t MappingRssKb(const void* start) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  std::ostringstream want;
  want << std::hex << reinterpret_cast<uintptr_t>(start) << "-";
  bool in = false;
  while (std::getline(smaps, line)) {
    if (line.rfind(want.str(), 0) == 0) {
      in = true;
    } else if (in && line.rfind("Rss:", 0) == 0) {
      return std::stoll(line.substr(4));
    }
  }
  return -1;
}

TEST(MappedFileTest, ReleaseMappedPagesDropsResidentPagesAndKeepsTheContents) {
  const std::string dir = ::llmserve::testing::MakeTempDir("mapped_file_test");
  const std::string path = dir + "/data.bin";
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t size = 64 * page;
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7 + i / 4096);
  ASSERT_TRUE(::llmserve::testing::WriteFile(path, bytes));
  {
    auto file = MappedFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    const uint8_t* p = (*file)->data();
    uint64_t sum = 0;
    for (std::size_t i = 0; i < size; i += 64) sum += p[i];  // fault every page in
    EXPECT_GT(sum, 0u);
    EXPECT_GE(MappingRssKb(p), static_cast<int64_t>(size / 1024));
    // A range from the middle of page 1 to the middle of page 61: pages 2..60 released.
    EXPECT_EQ(ReleaseMappedPages(p + page + page / 2, 60 * page), 59 * page);
    EXPECT_LE(MappingRssKb(p), static_cast<int64_t>(5 * page / 1024));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(p), size), bytes);  // faults back in
    // Beyond the mapping's end: not released.
    EXPECT_EQ(ReleaseMappedPages(p + page, size), 0u);
  }
  // Heap memory is no mapping: untouched.
  std::vector<uint8_t> heap(16 * page, 5);
  EXPECT_EQ(ReleaseMappedPages(heap.data(), heap.size()), 0u);
  for (uint8_t v : heap) ASSERT_EQ(v, 5);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace llmserve
