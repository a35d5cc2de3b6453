// The GGUF parser (engine/loaders/gguf.h) on hand-built files — every value
// type, nested arrays, alignment, tensor views — and on malformed ones: each
// truncation point, bad counts, lengths, offsets and types gives a clear
// INVALID_ARGUMENT naming the key or tensor, never a crash. Then the real
// files of ../shared/models/*-gguf (made by llama.cpp's tools).
#include "engine/loaders/gguf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/common/ggml_blocks.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::SharedPath;
using ::testing::HasSubstr;

// Writes GGUF bytes field by field (little-endian, as the spec).
class Builder {
 public:
  template <typename T>
  Builder& Put(T v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Builder& Str(const std::string& s) {
    Put<uint64_t>(s.size());
    bytes_ += s;
    return *this;
  }
  Builder& Header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
    bytes_ += "GGUF";
    return Put<uint32_t>(version).Put<uint64_t>(tensors).Put<uint64_t>(kvs);
  }
  Builder& KeyType(const std::string& key, GgufValueType t) {
    return Str(key).Put<uint32_t>(static_cast<uint32_t>(t));
  }
  Builder& TensorInfo(const std::string& name, std::vector<uint64_t> ne, uint32_t type,
                      uint64_t offset) {
    Str(name).Put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) Put<uint64_t>(d);
    return Put<uint32_t>(type).Put<uint64_t>(offset);
  }
  Builder& Align(std::size_t a) {
    while (bytes_.size() % a != 0) bytes_.push_back('\0');
    return *this;
  }
  Builder& Raw(const std::string& s) {
    bytes_ += s;
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

absl::StatusOr<GgufFile> ParseBytes(const std::string& bytes) {
  auto copy = std::make_shared<std::string>(bytes);
  return GgufFile::Parse(copy, reinterpret_cast<const uint8_t*>(copy->data()), copy->size(),
                         "test.gguf");
}

std::string Floats(std::vector<float> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// A valid file: one key of every value type, a nested array, alignment 64,
// an f32 [2, 3] tensor and a Q8_0 [1, 32] tensor.
std::string ValidFile() {
  Builder b;
  b.Header(2, 15);
  b.KeyType("u8", GgufValueType::kUint8).Put<uint8_t>(200);
  b.KeyType("i8", GgufValueType::kInt8).Put<int8_t>(-5);
  b.KeyType("u16", GgufValueType::kUint16).Put<uint16_t>(60000);
  b.KeyType("i16", GgufValueType::kInt16).Put<int16_t>(-30000);
  b.KeyType("u32", GgufValueType::kUint32).Put<uint32_t>(4000000000u);
  b.KeyType("i32", GgufValueType::kInt32).Put<int32_t>(-7);
  b.KeyType("f32", GgufValueType::kFloat32).Put<float>(0.5f);
  b.KeyType("bool", GgufValueType::kBool).Put<uint8_t>(1);
  b.KeyType("str", GgufValueType::kString).Str("hello");
  b.KeyType("u64", GgufValueType::kUint64).Put<uint64_t>(uint64_t{1} << 40);
  b.KeyType("i64", GgufValueType::kInt64).Put<int64_t>(-(int64_t{1} << 40));
  b.KeyType("f64", GgufValueType::kFloat64).Put<double>(1e-6);
  b.KeyType("strs", GgufValueType::kArray)
      .Put<uint32_t>(static_cast<uint32_t>(GgufValueType::kString))
      .Put<uint64_t>(2).Str("a").Str("b c");
  // [[1, 2], [3]] as int32 arrays inside an array.
  b.KeyType("nested", GgufValueType::kArray)
      .Put<uint32_t>(static_cast<uint32_t>(GgufValueType::kArray)).Put<uint64_t>(2)
      .Put<uint32_t>(static_cast<uint32_t>(GgufValueType::kInt32)).Put<uint64_t>(2)
      .Put<int32_t>(1).Put<int32_t>(2)
      .Put<uint32_t>(static_cast<uint32_t>(GgufValueType::kInt32)).Put<uint64_t>(1)
      .Put<int32_t>(3);
  b.KeyType("general.alignment", GgufValueType::kUint32).Put<uint32_t>(64);
  b.TensorInfo("w", {3, 2}, /*F32*/ 0, 0);
  b.TensorInfo("q", {32, 1}, /*Q8_0*/ 8, 64);
  b.Align(64).Raw(Floats({1, 2, 3, 4, 5, 6})).Align(64);
  BlockQ8_0 block{};
  block.d = 0x3c00;  // f16 1.0
  for (int i = 0; i < 32; ++i) block.qs[i] = static_cast<int8_t>(i - 16);
  b.Raw(std::string(reinterpret_cast<const char*>(&block), sizeof(block)));
  return b.bytes();
}

TEST(GgufTest, ParsesEveryValueTypeAndTensorViews) {
  auto f = ParseBytes(ValidFile());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  EXPECT_EQ(*f->GetInt("u8"), 200);
  EXPECT_EQ(*f->GetInt("i8"), -5);
  EXPECT_EQ(*f->GetInt("u16"), 60000);
  EXPECT_EQ(*f->GetInt("i16"), -30000);
  EXPECT_EQ(*f->GetInt("u32"), 4000000000LL);
  EXPECT_EQ(*f->GetInt("i32"), -7);
  EXPECT_EQ(*f->GetFloat("f32"), 0.5);
  EXPECT_EQ(*f->GetInt("bool"), 1);
  EXPECT_EQ(*f->GetString("str"), "hello");
  EXPECT_EQ(*f->GetInt("u64"), int64_t{1} << 40);
  EXPECT_EQ(*f->GetInt("i64"), -(int64_t{1} << 40));
  EXPECT_DOUBLE_EQ(*f->GetFloat("f64"), 1e-6);
  EXPECT_EQ(*f->GetStringArray("strs"), (std::vector<std::string>{"a", "b c"}));
  const GgufValue* nested = f->Find("nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->arrays.size(), 2u);
  EXPECT_EQ(nested->arrays[0].numbers, (std::vector<double>{1, 2}));
  EXPECT_EQ(nested->arrays[1].numbers, (std::vector<double>{3}));

  auto w = f->GetTensor("w");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 3}));  // ne reversed
  EXPECT_EQ(w->ToFloat(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  auto q = f->GetTensor("q");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->dtype, DType::kQ8_0);
  const std::vector<float> qv = q->ToFloat();
  ASSERT_EQ(qv.size(), 32u);
  EXPECT_EQ(qv[0], -16.0f);
  EXPECT_EQ(qv[31], 15.0f);

  // Type errors and absent keys name the key.
  EXPECT_THAT(f->GetString("u8").status().message(), HasSubstr("\"u8\""));
  EXPECT_TRUE(absl::IsNotFound(f->GetInt("missing").status()));
  EXPECT_TRUE(absl::IsNotFound(f->GetTensor("missing").status()));
}

TEST(GgufTest, EveryTruncationIsAnErrorNotACrash) {
  const std::string valid = ValidFile();
  // Cutting the file anywhere before the end of the last tensor fails cleanly.
  for (std::size_t n = 0; n < valid.size(); ++n) {
    auto f = ParseBytes(valid.substr(0, n));
    EXPECT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
    if (!f.ok()) {
      EXPECT_TRUE(absl::IsInvalidArgument(f.status())) << f.status();
      EXPECT_THAT(f.status().message(), HasSubstr("test.gguf"));
    }
  }
}

TEST(GgufTest, RejectsBadHeaders) {
  EXPECT_THAT(ParseBytes("GGML\3\0\0\0").status().message(), HasSubstr("not a GGUF file"));
  {
    Builder b;
    b.Header(0, 0, /*version=*/1);
    EXPECT_THAT(ParseBytes(b.bytes()).status().message(), HasSubstr("version 1"));
  }
  {
    Builder b;
    b.Header(0, 0, /*version=*/0x03000000);
    EXPECT_THAT(ParseBytes(b.bytes()).status().message(), HasSubstr("big-endian"));
  }
  {
    Builder b;
    b.Header(uint64_t{1} << 62, 0);
    EXPECT_THAT(ParseBytes(b.bytes()).status().message(), HasSubstr("tensor count"));
  }
  {
    Builder b;
    b.Header(0, uint64_t{1} << 62);
    EXPECT_THAT(ParseBytes(b.bytes()).status().message(), HasSubstr("metadata count"));
  }
}

TEST(GgufTest, RejectsBadMetadata) {
  {  // A string length far beyond the file: no huge allocation, the key named.
    Builder b;
    b.Header(0, 1).KeyType("name", GgufValueType::kString).Put<uint64_t>(uint64_t{1} << 60);
    auto f = ParseBytes(b.bytes());
    EXPECT_THAT(f.status().message(), HasSubstr("\"name\""));
  }
  {  // An array count beyond the file.
    Builder b;
    b.Header(0, 1).KeyType("arr", GgufValueType::kArray)
        .Put<uint32_t>(static_cast<uint32_t>(GgufValueType::kUint32)).Put<uint64_t>(1000000);
    auto f = ParseBytes(b.bytes());
    EXPECT_THAT(f.status().message(), HasSubstr("runs past the end"));
    EXPECT_THAT(f.status().message(), HasSubstr("\"arr\""));
  }
  {  // An unknown value type.
    Builder b;
    b.Header(0, 1).Str("k").Put<uint32_t>(13).Put<uint32_t>(0);
    EXPECT_THAT(ParseBytes(b.bytes()).status().message(), HasSubstr("unknown value type 13"));
  }
  {  // Arrays nested too deep.
    Builder b;
    b.Header(0, 1).KeyType("deep", GgufValueType::kArray);
    for (int i = 0; i < 10; ++i) {
      b.Put<uint32_t>(static_cast<uint32_t>(GgufValueType::kArray)).Put<uint64_t>(1);
    }
    EXPECT_THAT(ParseBytes(b.bytes()).status().message(), HasSubstr("nested deeper"));
  }
  {  // A duplicate key.
    Builder b;
    b.Header(0, 2);
    b.KeyType("k", GgufValueType::kUint8).Put<uint8_t>(1);
    b.KeyType("k", GgufValueType::kUint8).Put<uint8_t>(2);
    EXPECT_THAT(ParseBytes(b.bytes()).status().message(), HasSubstr("\"k\" appears twice"));
  }
  {  // Alignment not a power of two, or of the wrong type.
    Builder b;
    b.Header(0, 1).KeyType("general.alignment", GgufValueType::kUint32).Put<uint32_t>(24);
    EXPECT_THAT(ParseBytes(b.bytes()).status().message(), HasSubstr("power of two"));
    Builder c;
    c.Header(0, 1).KeyType("general.alignment", GgufValueType::kUint64).Put<uint64_t>(32);
    EXPECT_THAT(ParseBytes(c.bytes()).status().message(), HasSubstr("general.alignment"));
  }
  {  // A bool byte other than 0 / 1.
    Builder b;
    b.Header(0, 1).KeyType("flag", GgufValueType::kBool).Put<uint8_t>(7);
    EXPECT_THAT(ParseBytes(b.bytes()).status().message(), HasSubstr("\"flag\""));
  }
}

// One tensor `t` with the given ne / type / offset and `data_bytes` of data.
absl::Status ParseOneTensor(std::vector<uint64_t> ne, uint32_t type, uint64_t offset,
                            std::size_t data_bytes) {
  Builder b;
  b.Header(1, 0).TensorInfo("t", std::move(ne), type, offset).Align(32);
  b.Raw(std::string(data_bytes, '\0'));
  return ParseBytes(b.bytes()).status();
}

TEST(GgufTest, RejectsBadTensors) {
  EXPECT_TRUE(ParseOneTensor({4, 2}, 0, 0, 32).ok());
  EXPECT_THAT(ParseOneTensor({4, 2}, 0, 0, 31).message(), HasSubstr("runs past the end"));
  EXPECT_THAT(ParseOneTensor({4, 2}, 0, 0, 31).message(), HasSubstr("\"t\""));
  EXPECT_THAT(ParseOneTensor({4, 2}, 0, 16, 64).message(), HasSubstr("not a multiple of the alignment"));
  EXPECT_THAT(ParseOneTensor({4, 2}, 0, uint64_t{1} << 63, 64).message(),
              HasSubstr("runs past the end"));
  EXPECT_THAT(ParseOneTensor({4, 2}, /*Q4_1*/ 3, 0, 64).message(), HasSubstr("Q4_1"));
  EXPECT_THAT(ParseOneTensor({4, 2}, /*Q4_1*/ 3, 0, 64).message(), HasSubstr("\"t\""));
  EXPECT_THAT(ParseOneTensor({4, 2}, 99, 0, 64).message(), HasSubstr("type 99"));
  EXPECT_THAT(ParseOneTensor({16, 2}, /*Q8_0*/ 8, 0, 128).message(), HasSubstr("whole blocks"));
  EXPECT_THAT(ParseOneTensor({0, 2}, 0, 0, 64).message(), HasSubstr("dimension 0 is 0"));
  EXPECT_THAT(ParseOneTensor({1, 1, 1, 1, 1}, 0, 0, 64).message(), HasSubstr("5 dimensions"));
  EXPECT_THAT(ParseOneTensor({uint64_t{1} << 39, uint64_t{1} << 39}, 0, 0, 64).message(),
              HasSubstr("too many elements"));
  // The ggml ids of the supported types.
  EXPECT_EQ(*DTypeFromGgmlType(0), DType::kF32);
  EXPECT_EQ(*DTypeFromGgmlType(1), DType::kF16);
  EXPECT_EQ(*DTypeFromGgmlType(2), DType::kQ4_0);
  EXPECT_EQ(*DTypeFromGgmlType(8), DType::kQ8_0);
  EXPECT_EQ(*DTypeFromGgmlType(12), DType::kQ4_K);
  EXPECT_EQ(*DTypeFromGgmlType(14), DType::kQ6_K);
  EXPECT_EQ(*DTypeFromGgmlType(30), DType::kBF16);
  // A duplicate tensor name.
  Builder b;
  b.Header(2, 0).TensorInfo("t", {8}, 0, 0).TensorInfo("t", {8}, 0, 32).Align(32);
  b.Raw(std::string(64, '\0'));
  EXPECT_THAT(ParseBytes(b.bytes()).status().message(), HasSubstr("appears twice"));
}

TEST(GgufTest, ReadsTheSharedFiles) {
  const struct {
    const char* path;
    const char* tensor;
    DType dtype;
  } kFiles[] = {
      {"models/stories260K-gguf/stories260K-f32.gguf", "blk.0.attn_q.weight", DType::kF32},
      {"models/stories260K-gguf/stories260K-q8_0.gguf", "blk.0.attn_q.weight", DType::kQ8_0},
      {"models/stories260K-gguf/stories260K-q4_0.gguf", "blk.0.attn_q.weight", DType::kQ4_0},
      {"models/random-llama-256-gguf/random-llama-256-q4_k_m.gguf", "blk.0.attn_q.weight",
       DType::kQ4_K},
      {"models/random-llama-256-gguf/random-llama-256-q6_k.gguf", "blk.0.attn_q.weight",
       DType::kQ6_K},
      {"models/gpt2-tiny-random-gguf/gpt2-tiny-random-f16.gguf", "blk.0.attn_qkv.weight",
       DType::kF16},
  };
  for (const auto& c : kFiles) {
    SCOPED_TRACE(c.path);
    auto f = GgufFile::Open(SharedPath(c.path));
    ASSERT_TRUE(f.ok()) << f.status();
    const GgufTensorInfo* t = f->FindTensor(c.tensor);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, c.dtype);
    EXPECT_EQ(t->shape.size(), 2u);
    EXPECT_EQ(t->shape[0], t->ne[1]);
    EXPECT_TRUE(f->GetString("general.architecture").ok());
    EXPECT_TRUE(f->GetStringArray("tokenizer.ggml.tokens").ok());
  }
}

}  // namespace
}  // namespace llmserve
