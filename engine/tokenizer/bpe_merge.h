#ifndef LLMSERVE_ENGINE_TOKENIZER_BPE_MERGE_H_
#define LLMSERVE_ENGINE_TOKENIZER_BPE_MERGE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"

namespace llmserve {

/// What an adjacent pair of symbols merges into: the merged token id and the
/// merge's priority (higher merges first).
struct BpeMerge {
  int32_t id;
  double priority;
};

/// Answers "does the pair (left, right) merge, and into what?" for BPE.
using BpeMergeLookup = absl::FunctionRef<std::optional<BpeMerge>(int32_t left, int32_t right)>;

/// Greedy BPE merging of the token ids in `*ids`, in place: repeatedly replaces
/// the adjacent pair with the highest-priority merge by its merged id, the
/// leftmost such pair on ties, until no adjacent pair merges.
///
/// This is the loop of llama2.c `encode()` (priority = score of the merged
/// piece), SentencePiece's BPE model and Hugging Face `tokenizers` BPE
/// (priority = -merge rank; OpenAI's encoder.py merges every occurrence of the
/// best pair at once, which gives the same result because a merge cannot
/// create another instance of the pair it consumed). Implemented as in
/// SentencePiece `bpe_model.cc`: a doubly linked symbol list and a max-heap of
/// adjacent pairs with lazy invalidation, O(n log n) lookups and heap work for
/// n input ids instead of llama2.c's O(n^2) rescans.
void ApplyBpeMerges(BpeMergeLookup lookup, std::vector<int32_t>* ids);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_BPE_MERGE_H_
