#ifndef LLMSERVE_TESTS_TOKENIZER_GGML_VOCAB_CASES_H_
#define LLMSERVE_TESTS_TOKENIZER_GGML_VOCAB_CASES_H_

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace llmserve::testing {

/// The inputs of a llama.cpp tokenizer test file (`ggml-vocab-*.gguf.inp`): each
/// case is followed by the separator "\n__ggml_vocab_test__\n" (its newlines
/// are part of the separator, as llama.cpp's test-tokenizer-0 and the script
/// that writes the file treat them), so a case may be empty or contain
/// newlines of its own.
inline std::vector<std::string> ReadGgmlVocabInputs(const std::string& path) {
  const std::string text = ReadFile(path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t next = text.find(sep, pos);
    if (next == std::string::npos) {
      cases.push_back(text.substr(pos));  // no trailing separator: keep the rest
      break;
    }
    cases.push_back(text.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return cases;
}

/// The expected ids of a `ggml-vocab-*.gguf.out` file: one line per case, ids
/// separated by spaces (an empty line for no tokens).
inline std::vector<std::vector<int32_t>> ReadGgmlVocabOutputs(const std::string& path) {
  std::istringstream in(ReadFile(path));
  std::vector<std::vector<int32_t>> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ids(line);
    std::vector<int32_t> v;
    for (int32_t id; ids >> id;) v.push_back(id);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_TOKENIZER_GGML_VOCAB_CASES_H_
