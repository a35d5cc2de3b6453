#include "engine/structured/structured_output.h"

#include <limits>

namespace llmserve {

// Placeholders until the automaton lands (issue #23).
absl::StatusOr<std::shared_ptr<const StructuredVocabulary>> StructuredVocabulary::FromTokenizer(
    const Tokenizer& tokenizer, std::vector<int32_t> eos_token_ids) {
  (void)tokenizer;
  (void)eos_token_ids;
  return absl::UnimplementedError("structured output is not implemented yet");
}

std::unique_ptr<StructuredOutputCompiler> StructuredOutputCompiler::Create(
    std::shared_ptr<const StructuredVocabulary> vocabulary, int cache_capacity) {
  (void)vocabulary;
  (void)cache_capacity;
  return nullptr;
}

std::unique_ptr<StructuredOutputMatcher> StructuredOutputMatcher::Create(
    std::shared_ptr<const CompiledStructuredOutput> compiled) {
  (void)compiled;
  return nullptr;
}

void ApplyTokenBitmask(absl::Span<const uint32_t> bitmask, absl::Span<float> logits) {
  for (size_t i = 0; i < logits.size(); ++i) {
    if (((bitmask[i / 32] >> (i % 32)) & 1u) == 0) logits[i] = -std::numeric_limits<float>::infinity();
  }
}

}  // namespace llmserve
