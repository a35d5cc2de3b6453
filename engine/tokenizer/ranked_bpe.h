#ifndef LLMSERVE_ENGINE_TOKENIZER_RANKED_BPE_H_
#define LLMSERVE_ENGINE_TOKENIZER_RANKED_BPE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace llmserve {

/// A BPE vocabulary with merges ordered by rank, as in GPT-2's `encoder.json` +
/// `vocab.bpe` and the "model" of a Hugging Face `tokenizer.json` of type BPE:
/// token string → id, and (left, right) → merged token, lower rank first.
class RankedBpe {
 public:
  /// Builds the vocabulary from `vocab` (token → id) and `merges` (pairs of
  /// token strings, best first). `name` is used in errors. A merge listed twice
  /// keeps its last rank (as OpenAI's encoder.py and HF tokenizers do).
  /// Errors: INVALID_ARGUMENT for an empty vocabulary, an id outside
  /// 0..kMaxId, two tokens with one id, or a merge whose parts or result are
  /// not in the vocabulary (naming the merge's index).
  static absl::StatusOr<RankedBpe> Build(
      const std::vector<std::pair<std::string, int32_t>>& vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, std::string_view name);

  /// Largest id accepted (16M, far above real vocabularies; bounds allocations).
  static constexpr int32_t kMaxId = (1 << 24) - 1;

  /// The id of `token`, or -1.
  int32_t Find(std::string_view token) const;
  /// The token string of `id`, or empty if no token has that id.
  std::string_view token(int32_t id) const;
  /// One more than the largest id.
  int32_t id_limit() const { return static_cast<int32_t>(tokens_.size()); }

  /// Applies the merges to the symbol ids in `*ids` (lowest rank first, leftmost
  /// on ties; see ApplyBpeMerges).
  void Merge(std::vector<int32_t>* ids) const;

 private:
  RankedBpe() = default;

  absl::flat_hash_map<std::string, int32_t> ids_;
  std::vector<std::string> tokens_;  // by id; empty where no token has the id
  struct MergeResult {
    int32_t rank;
    int32_t id;
  };
  absl::flat_hash_map<uint64_t, MergeResult> merges_;  // key: left id << 32 | right id
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_RANKED_BPE_H_
