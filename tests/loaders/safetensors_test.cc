#include "engine/loaders/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::MakeTempDir;
using ::llmserve::testing::ReadFile;
using ::llmserve::testing::SharedPath;
using ::llmserve::testing::WriteFile;
using ::testing::HasSubstr;

// --- A minimal independent writer -----------------------------------------

std::string Le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// 8-byte length + header + data, with the header taken verbatim.
std::string RawFile(const std::string& header, const std::string& data) {
  return Le64(header.size()) + header + data;
}

struct TestTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// A well-formed file: tensors laid out back to back in the given order, the
// header padded with spaces to `header_multiple` bytes (1: no padding).
std::string BuildFile(const std::vector<TestTensor>& tensors, std::size_t header_multiple = 8,
                      const nlohmann::json& metadata = nullptr) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const TestTensor& t : tensors) {
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  if (!metadata.is_null()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  while (text.size() % header_multiple != 0) text += ' ';
  return RawFile(text, data);
}

std::string WriteTemp(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir + "/" + name;
  EXPECT_TRUE(WriteFile(path, bytes)) << path;
  return path;
}

// --- Real files against an independent reading -----------------------------

// Reads the header with nlohmann directly and checks every tensor's dtype,
// shape and bytes against SafetensorsFile.
void CheckAgainstIndependentReading(const std::string& path, const std::string& dtype,
                                    std::size_t expected_count) {
  const std::string raw = ReadFile(path);
  ASSERT_GT(raw.size(), 8u);
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);  // little-endian host
  const nlohmann::json header = nlohmann::json::parse(raw.substr(8, n));
  const std::size_t data_start = 8 + n;

  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->path(), path);
  EXPECT_EQ(file->size(), expected_count);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  const HostTensor* first = nullptr;
  HostTensor first_tensor;
  uint64_t first_begin = 0;
  std::size_t seen = 0;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    ++seen;
    SCOPED_TRACE(name);
    ASSERT_TRUE(file->Contains(name));
    const SafetensorsEntry* e = file->FindEntry(name);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->dtype_name, dtype);
    absl::StatusOr<HostTensor> t = file->GetTensor(name);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(DTypeName(t->dtype), dtype == "F32" ? "f32" : "f16");
    EXPECT_EQ(t->shape, info["shape"].get<std::vector<int64_t>>());
    const uint64_t begin = info["data_offsets"][0], end = info["data_offsets"][1];
    ASSERT_EQ(static_cast<uint64_t>(t->num_bytes()), end - begin);
    EXPECT_EQ(std::memcmp(t->data, raw.data() + data_start + begin, end - begin), 0);
    if (first == nullptr) {
      first_tensor = *t;
      first = &first_tensor;
      first_begin = begin;
    } else {
      // Zero-copy: all views point into one mapping at their file offsets.
      EXPECT_EQ(static_cast<const uint8_t*>(t->data) - static_cast<const uint8_t*>(first->data),
                static_cast<std::ptrdiff_t>(begin) - static_cast<std::ptrdiff_t>(first_begin));
    }
  }
  EXPECT_EQ(seen, expected_count);
}

TEST(SafetensorsFileTest, Stories260KMatchesIndependentReading) {
  // 5 layers × 9 tensors + embedding + final norm.
  CheckAgainstIndependentReading(SharedPath("models/stories260K-hf/model.safetensors"), "F32", 47);
}

TEST(SafetensorsFileTest, Gpt2TinyMatchesIndependentReading) {
  // 2 layers × 12 tensors + wte, wpe, ln_f.{weight,bias}.
  CheckAgainstIndependentReading(SharedPath("models/gpt2-tiny-random/model.safetensors"), "F16",
                                 28);
}

TEST(SafetensorsFileTest, TensorOutlivesFileObject) {
  HostTensor t;
  {
    absl::StatusOr<SafetensorsFile> file =
        SafetensorsFile::Open(SharedPath("models/stories260K-hf/model.safetensors"));
    ASSERT_TRUE(file.ok()) << file.status();
    absl::StatusOr<HostTensor> got = file->GetTensor("model.norm.weight");
    ASSERT_TRUE(got.ok()) << got.status();
    t = *got;
  }
  // The mapping stays alive through the tensor's owner (ASan would catch a use after unmap).
  std::vector<float> v = t.ToFloat();
  ASSERT_EQ(v.size(), 64u);
  EXPECT_TRUE(std::isfinite(v[0]));
}

// --- Small synthetic files --------------------------------------------------

TEST(SafetensorsFileTest, ReadsEachDtypeAndMetadata) {
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f};
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000};    // 1.0, -2.0
  const std::vector<uint16_t> bf16 = {0x3f80, 0x4040};   // 1.0, 3.0
  const std::vector<int64_t> i64 = {42};
  const std::string bytes = BuildFile({{"a.f32", "F32", {2, 3}, Bytes(f32)},
                                       {"b.f16", "F16", {2}, Bytes(f16)},
                                       {"c.bf16", "BF16", {1, 2}, Bytes(bf16)},
                                       {"d.i64", "I64", {}, Bytes(i64)},
                                       {"e.empty", "F32", {0, 5}, ""}},
                                      8, {{"format", "pt"}, {"note", "x"}});
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(
      nullptr, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->names(),
            (std::vector<std::string>{"a.f32", "b.f16", "c.bf16", "d.i64", "e.empty"}));
  EXPECT_EQ(file->metadata().at("note"), "x");

  absl::StatusOr<HostTensor> a = file->GetTensor("a.f32");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->ToFloat(), f32);
  absl::StatusOr<HostTensor> b = file->GetTensor("b.f16");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->dtype, DType::kF16);
  EXPECT_EQ(b->ToFloat(), (std::vector<float>{1.0f, -2.0f}));
  absl::StatusOr<HostTensor> c = file->GetTensor("c.bf16");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dtype, DType::kBF16);
  EXPECT_EQ(c->ToFloat(), (std::vector<float>{1.0f, 3.0f}));
  absl::StatusOr<HostTensor> e = file->GetTensor("e.empty");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->num_elements(), 0);

  // A valid dtype llmserve cannot load: its range was validated, lookup fails.
  ASSERT_NE(file->FindEntry("d.i64"), nullptr);
  EXPECT_EQ(file->FindEntry("d.i64")->dtype_name, "I64");
  absl::StatusOr<HostTensor> d = file->GetTensor("d.i64");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(), HasSubstr("mem.safetensors"));
  EXPECT_THAT(d.status().message(), HasSubstr("'d.i64'"));
  EXPECT_THAT(d.status().message(), HasSubstr("I64"));

  absl::StatusOr<HostTensor> missing = file->GetTensor("nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("'nope'"));
}

TEST(SafetensorsFileTest, UnalignedDataIsCopiedAligned) {
  const std::vector<float> values = {1.0f, 2.0f, 3.0f};
  // No header padding: pick a name length making 8 + N odd.
  std::string bytes;
  for (std::string name = "t"; name.size() < 8; name += "x") {
    bytes = BuildFile({{name, "F32", {3}, Bytes(values)}}, 1);
    if ((bytes.size() - 12) % 2 == 1) break;
  }
  ASSERT_EQ((bytes.size() - 12) % 2, 1u);
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(
      nullptr, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "odd");
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<HostTensor> t = file->GetTensor(file->names()[0]);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data) % alignof(float), 0u);
  EXPECT_EQ(*static_cast<const float*>(t->data), 1.0f);
  EXPECT_EQ(t->ToFloat(), values);
}

struct BadFileCase {
  std::string label;
  std::string bytes;
  std::vector<std::string> expected;  // substrings of the message
};

std::vector<BadFileCase> BadFileCases() {
  const std::string four_floats = Bytes(std::vector<float>{1, 2, 3, 4});
  const std::string good = BuildFile({{"w", "F32", {4}, four_floats}});
  auto header_with = [&](const std::string& entry) { return "{\"w\":" + entry + "}"; };
  return {
      {"empty file", "", {"too short"}},
      {"seven bytes", std::string(7, '\0'), {"too short"}},
      {"truncated data", good.substr(0, good.size() - 3), {"'w'", "beyond the data section"}},
      {"truncated header", good.substr(0, 20), {"header length", "exceeds"}},
      {"header length beyond file", Le64(1000) + "{}", {"header length 1000", "exceeds"}},
      {"header length 0", Le64(0) + four_floats, {"header length is 0"}},
      {"header length huge", Le64(uint64_t{1} << 62) + "{}", {"exceeds the limit"}},
      {"header length just over limit", Le64(kSafetensorsMaxHeaderBytes + 1) + "{}",
       {"exceeds the limit"}},
      {"bad JSON", RawFile("{\"w\": {\"dtype\": ", ""), {"not valid JSON"}},
      {"JSON not an object", RawFile("[1, 2]", ""), {"does not start with '{'"}},
      {"invalid UTF-8", RawFile("{\"\xff\": 1}", ""), {"not valid JSON"}},
      {"trailing garbage after JSON", RawFile("{} x", ""), {"not valid JSON"}},
      {"entry not an object", RawFile(header_with("[1]"), four_floats), {"'w'", "not a JSON object"}},
      {"missing dtype",
       RawFile(header_with(R"({"shape":[4],"data_offsets":[0,16]})"), four_floats),
       {"'w'", "dtype"}},
      {"dtype not a string",
       RawFile(header_with(R"({"dtype":4,"shape":[4],"data_offsets":[0,16]})"), four_floats),
       {"'w'", "dtype"}},
      {"unknown dtype",
       RawFile(header_with(R"({"dtype":"Q4_K","shape":[4],"data_offsets":[0,16]})"), four_floats),
       {"'w'", "unknown dtype 'Q4_K'"}},
      {"lower-case dtype",
       RawFile(header_with(R"({"dtype":"f32","shape":[4],"data_offsets":[0,16]})"), four_floats),
       {"'w'", "unknown dtype 'f32'"}},
      {"shape not an array",
       RawFile(header_with(R"({"dtype":"F32","shape":4,"data_offsets":[0,16]})"), four_floats),
       {"'w'", "shape"}},
      {"negative dimension",
       RawFile(header_with(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})"), four_floats),
       {"'w'", "dimension 0 = -4"}},
      {"fractional dimension",
       RawFile(header_with(R"({"dtype":"F32","shape":[4.0],"data_offsets":[0,16]})"), four_floats),
       {"'w'", "dimension 0"}},
      {"nested dimension",
       RawFile(header_with(R"({"dtype":"F32","shape":[[4]],"data_offsets":[0,16]})"), four_floats),
       {"'w'", "dimension 0 = an array"}},
      {"too many dimensions",
       RawFile(header_with(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,4],)"
                           R"("data_offsets":[0,16]})"),
               four_floats),
       {"'w'", "17 dimensions"}},
      {"shape overflow",
       RawFile(header_with(R"({"dtype":"F32","shape":[4294967296,4294967296],)"
                           R"("data_offsets":[0,16]})"),
               four_floats),
       {"'w'", "overflow"}},
      {"shape overflow before a zero",
       RawFile(header_with(R"({"dtype":"F32","shape":[4294967296,4294967296,0],)"
                           R"("data_offsets":[0,0]})"),
               ""),
       {"'w'", "overflow"}},
      {"byte size overflow",
       RawFile(header_with(R"({"dtype":"F64","shape":[4611686018427387904],)"
                           R"("data_offsets":[0,16]})"),
               four_floats),
       {"'w'", "overflow"}},
      {"offsets missing",
       RawFile(header_with(R"({"dtype":"F32","shape":[4]})"), four_floats),
       {"'w'", "data_offsets"}},
      {"offsets of wrong length",
       RawFile(header_with(R"({"dtype":"F32","shape":[4],"data_offsets":[0]})"), four_floats),
       {"'w'", "data_offsets"}},
      {"negative offset",
       RawFile(header_with(R"({"dtype":"F32","shape":[4],"data_offsets":[-16,0]})"), four_floats),
       {"'w'", "data_offsets"}},
      {"begin after end",
       RawFile(header_with(R"({"dtype":"F32","shape":[4],"data_offsets":[16,0]})"), four_floats),
       {"'w'", "begin > end"}},
      {"end out of range",
       RawFile(header_with(R"({"dtype":"F32","shape":[4],"data_offsets":[0,17]})"), four_floats),
       {"'w'", "beyond the data section of 16 bytes"}},
      {"offset beyond uint64",
       RawFile(header_with(R"({"dtype":"F32","shape":[4],"data_offsets":[0,18446744073709551616]})"),
               four_floats),
       {"'w'", "data_offsets"}},
      {"size does not match shape",
       RawFile(header_with(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})"), four_floats),
       {"'w'", "has 16 bytes", "needs 12"}},
      {"size does not match dtype",
       RawFile(header_with(R"({"dtype":"F16","shape":[4],"data_offsets":[0,16]})"), four_floats),
       {"'w'", "needs 8"}},
      {"overlapping tensors",
       RawFile(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
               four_floats),
       {"'b'", "overlaps tensor 'a'"}},
      {"aliased tensors",
       RawFile(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
               R"("b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
               four_floats),
       {"overlaps tensor"}},
      {"gap between tensors",
       RawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
               four_floats),
       {"'b'", "gap of 4"}},
      {"trailing bytes",
       RawFile(header_with(R"({"dtype":"F32","shape":[3],"data_offsets":[0,12]})"), four_floats),
       {"cover 12 bytes of the 16"}},
      {"duplicate tensor name",
       RawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
               R"("w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
               four_floats),
       {"key 'w' more than once"}},
      {"duplicate field",
       RawFile(header_with(R"({"dtype":"F32","dtype":"F16","shape":[4],"data_offsets":[0,16]})"),
               four_floats),
       {"key 'dtype' more than once"}},
      {"metadata not an object", RawFile(R"({"__metadata__":[1]})", ""), {"__metadata__"}},
      {"metadata value not a string",
       RawFile(R"({"__metadata__":{"format":1}})", ""),
       {"__metadata__", "'format'"}},
  };
}

TEST(SafetensorsFileTest, RejectsCorruptFilesWithClearErrors) {
  const std::string dir = MakeTempDir("safetensors-bad");
  int index = 0;
  for (const BadFileCase& c : BadFileCases()) {
    SCOPED_TRACE(c.label);
    const std::string path = WriteTemp(dir, "bad" + std::to_string(index++) + ".safetensors", c.bytes);
    absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << file.status();
    EXPECT_THAT(file.status().message(), HasSubstr(path));
    for (const std::string& s : c.expected) EXPECT_THAT(file.status().message(), HasSubstr(s));
  }
}

TEST(SafetensorsFileTest, AcceptsEmptyHeaderAndPaddedHeader) {
  const std::string bytes = RawFile("{}      ", "");
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(
      nullptr, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "empty");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->size(), 0u);
}

TEST(SafetensorsFileTest, MissingFileIsNotFound) {
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open("/nonexistent/x.safetensors");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr("/nonexistent/x.safetensors"));
}

// --- Checkpoint directories ---------------------------------------------------

TEST(SafetensorsCheckpointTest, OpensSingleFileDirectory) {
  const std::string dir = SharedPath("models/stories260K-hf");
  absl::StatusOr<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->size(), 47u);
  EXPECT_EQ(ckpt->files().size(), 1u);
  EXPECT_EQ(ckpt->FileOf("model.norm.weight"), dir + "/model.safetensors");
  absl::StatusOr<HostTensor> t = ckpt->GetTensor("model.layers.4.mlp.down_proj.weight");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, (std::vector<int64_t>{64, 172}));
  EXPECT_EQ(ckpt->GetTensor("lm_head.weight").status().code(), absl::StatusCode::kNotFound);
}

TEST(SafetensorsCheckpointTest, EmptyDirectoryIsNotFound) {
  const std::string dir = MakeTempDir("safetensors-empty");
  absl::StatusOr<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::Open(dir);
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ckpt.status().message(), HasSubstr("model.safetensors"));
}

// Two shards: a, b in shard 1; c in shard 2.
std::string ShardedDir(const std::string& index_json) {
  const std::string dir = MakeTempDir("safetensors-sharded");
  WriteTemp(dir, "model-00001-of-00002.safetensors",
            BuildFile({{"a", "F32", {2}, Bytes(std::vector<float>{1, 2})},
                       {"b", "F32", {1}, Bytes(std::vector<float>{3})}}));
  WriteTemp(dir, "model-00002-of-00002.safetensors",
            BuildFile({{"c", "F16", {1}, Bytes(std::vector<uint16_t>{0x3c00})}}));
  WriteTemp(dir, "model.safetensors.index.json", index_json);
  return dir;
}

constexpr char kGoodIndex[] = R"({"metadata": {"total_size": 14}, "weight_map": {
    "a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
    "c": "model-00002-of-00002.safetensors"}})";

TEST(SafetensorsCheckpointTest, OpensShardedCheckpoint) {
  const std::string dir = ShardedDir(kGoodIndex);
  absl::StatusOr<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ckpt->files().size(), 2u);
  EXPECT_EQ(ckpt->FileOf("c"), dir + "/model-00002-of-00002.safetensors");
  absl::StatusOr<HostTensor> b = ckpt->GetTensor("b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->ToFloat(), (std::vector<float>{3}));
  absl::StatusOr<HostTensor> c = ckpt->GetTensor("c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dtype, DType::kF16);
  EXPECT_EQ(c->ToFloat(), (std::vector<float>{1}));
}

TEST(SafetensorsCheckpointTest, RejectsInconsistentIndex) {
  struct Case {
    std::string label, index;
    absl::StatusCode code;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"missing shard",
       R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
           "b": "model-00001-of-00002.safetensors", "c": "model-00003-of-00003.safetensors"}})",
       absl::StatusCode::kNotFound,
       {"model-00003-of-00003.safetensors", "'c'"}},
      {"tensor not in its shard",
       R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
           "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors",
           "d": "model-00002-of-00002.safetensors"}})",
       absl::StatusCode::kInvalidArgument,
       {"'d'", "does not contain it"}},
      {"tensor in the wrong shard",
       R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
           "b": "model-00001-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}})",
       absl::StatusCode::kInvalidArgument,
       {"'c'"}},
      {"tensor not listed",
       R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
           "c": "model-00002-of-00002.safetensors"}})",
       absl::StatusCode::kInvalidArgument,
       {"'b'", "not listed in weight_map"}},
      {"no weight_map", R"({"metadata": {}})", absl::StatusCode::kInvalidArgument,
       {"weight_map"}},
      {"weight_map not an object", R"({"weight_map": ["a"]})", absl::StatusCode::kInvalidArgument,
       {"weight_map"}},
      {"shard name not a string", R"({"weight_map": {"a": 1}})",
       absl::StatusCode::kInvalidArgument, {"'a'", "not a string"}},
      {"shard path escapes the directory", R"({"weight_map": {"a": "../model.safetensors"}})",
       absl::StatusCode::kInvalidArgument, {"'a'", "not a plain file name"}},
      {"index not JSON", "{weight_map", absl::StatusCode::kInvalidArgument, {"not valid JSON"}},
      {"duplicate key in index",
       R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
           "a": "model-00002-of-00002.safetensors"}})",
       absl::StatusCode::kInvalidArgument, {"key 'a' more than once"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string dir = ShardedDir(c.index);
    absl::StatusOr<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::Open(dir);
    ASSERT_FALSE(ckpt.ok());
    EXPECT_EQ(ckpt.status().code(), c.code) << ckpt.status();
    EXPECT_THAT(ckpt.status().message(), HasSubstr("model.safetensors.index.json"));
    for (const std::string& s : c.expected) EXPECT_THAT(ckpt.status().message(), HasSubstr(s));
  }
}

TEST(SafetensorsCheckpointTest, RejectsTensorInTwoShards) {
  const std::string dir = ShardedDir(kGoodIndex);
  // Shard 2 now also holds "a".
  WriteTemp(dir, "model-00002-of-00002.safetensors",
            BuildFile({{"a", "F32", {1}, Bytes(std::vector<float>{9})},
                       {"c", "F16", {1}, Bytes(std::vector<uint16_t>{0x3c00})}}));
  absl::StatusOr<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_THAT(ckpt.status().message(), HasSubstr("'a' is in two shards"));
}

TEST(SafetensorsCheckpointTest, CorruptShardNamesShardAndTensor) {
  const std::string dir = ShardedDir(kGoodIndex);
  WriteTemp(dir, "model-00002-of-00002.safetensors", Le64(100) + "{}");
  absl::StatusOr<SafetensorsCheckpoint> ckpt = SafetensorsCheckpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ckpt.status().message(), HasSubstr("model-00002-of-00002.safetensors"));
  EXPECT_THAT(ckpt.status().message(), HasSubstr("header length 100"));
}

}  // namespace
}  // namespace llmserve
