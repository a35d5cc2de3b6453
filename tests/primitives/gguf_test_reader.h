#ifndef LLMSERVE_TESTS_PRIMITIVES_GGUF_TEST_READER_H_
#define LLMSERVE_TESTS_PRIMITIVES_GGUF_TEST_READER_H_

// A minimal, test-only reader of GGUF v2/v3 files (llama.cpp's gguf.md): the
// tensor directory and raw data, nothing of the metadata. It exists so the
// kernel tests can check dequantization against llama.cpp's own files
// independently of the engine's GGUF loader.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/common/dtype.h"

namespace llmserve::testing_gguf {

struct Tensor {
  DType dtype = DType::kF32;
  int64_t rows = 1, cols = 0;  // cols = ne[0] (a row), rows = the product of the rest
  const uint8_t* data = nullptr;
};

struct File {
  std::vector<uint8_t> bytes;
  std::map<std::string, Tensor> tensors;  // F32, F16 and the four quantized types only
};

/// Reads the whole file. Errors: NOT_FOUND / DATA_LOSS for a missing or
/// malformed file.
absl::StatusOr<File> ReadGgufTensors(const std::string& path);

}  // namespace llmserve::testing_gguf

#endif  // LLMSERVE_TESTS_PRIMITIVES_GGUF_TEST_READER_H_
