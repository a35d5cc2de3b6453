#include "tests/primitives/gguf_test_reader.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace llmserve::testing_gguf {
namespace {

struct Cursor {
  const std::vector<uint8_t>& b;
  std::size_t pos = 0;
  bool ok = true;
  template <typename T>
  T Read() {
    T v{};
    if (pos + sizeof(T) > b.size()) {
      ok = false;
      return v;
    }
    std::memcpy(&v, &b[pos], sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string String() {
    const uint64_t n = Read<uint64_t>();
    if (!ok || pos + n > b.size()) {
      ok = false;
      return "";
    }
    std::string s(reinterpret_cast<const char*>(&b[pos]), n);
    pos += n;
    return s;
  }
  // Skips one metadata value of GGUF type `t`.
  void Skip(uint32_t t) {
    static const int kSizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t == 8) {
      String();
    } else if (t == 9) {
      const uint32_t et = Read<uint32_t>();
      const uint64_t n = Read<uint64_t>();
      for (uint64_t i = 0; i < n && ok; ++i) Skip(et);
    } else if (t < 13) {
      pos += kSizes[t];
    } else {
      ok = false;
    }
  }
};

bool GgmlType(uint32_t t, DType* out) {
  switch (t) {  // ggml.h's enum ggml_type
    case 0: *out = DType::kF32; return true;
    case 1: *out = DType::kF16; return true;
    case 2: *out = DType::kQ4_0; return true;
    case 8: *out = DType::kQ8_0; return true;
    case 12: *out = DType::kQ4_K; return true;
    case 14: *out = DType::kQ6_K; return true;
    default: return false;
  }
}

}  // namespace

absl::StatusOr<File> ReadGgufTensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  File f;
  f.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  Cursor c{f.bytes};
  if (c.Read<uint32_t>() != 0x46554747u) return absl::DataLossError("not GGUF: " + path);
  const uint32_t version = c.Read<uint32_t>();
  if (version < 2) return absl::DataLossError("GGUF v1 unsupported");
  const uint64_t n_tensors = c.Read<uint64_t>(), n_kv = c.Read<uint64_t>();
  uint64_t alignment = 32;
  for (uint64_t i = 0; i < n_kv && c.ok; ++i) {
    const std::string key = c.String();
    const uint32_t t = c.Read<uint32_t>();
    if (key == "general.alignment" && t == 4) {
      alignment = c.Read<uint32_t>();
    } else {
      c.Skip(t);
    }
  }
  struct Info {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    uint64_t offset;
  };
  std::vector<Info> infos;
  for (uint64_t i = 0; i < n_tensors && c.ok; ++i) {
    Info info;
    info.name = c.String();
    const uint32_t nd = c.Read<uint32_t>();
    for (uint32_t d = 0; d < nd && c.ok; ++d) info.ne.push_back(c.Read<uint64_t>());
    info.type = c.Read<uint32_t>();
    info.offset = c.Read<uint64_t>();
    infos.push_back(info);
  }
  if (!c.ok) return absl::DataLossError("truncated GGUF header: " + path);
  const std::size_t data_start = (c.pos + alignment - 1) / alignment * alignment;
  for (const Info& info : infos) {
    Tensor t;
    if (!GgmlType(info.type, &t.dtype) || info.ne.empty()) continue;
    t.cols = static_cast<int64_t>(info.ne[0]);
    for (std::size_t d = 1; d < info.ne.size(); ++d) t.rows *= static_cast<int64_t>(info.ne[d]);
    const int64_t bytes = t.rows * DTypeRowBytes(t.dtype, t.cols);
    if (bytes < 0 || data_start + info.offset + bytes > f.bytes.size()) {
      return absl::DataLossError(absl::StrCat("tensor ", info.name, " out of the file"));
    }
    t.data = f.bytes.data() + data_start + info.offset;
    f.tensors[info.name] = t;
  }
  return f;
}

}  // namespace llmserve::testing_gguf
