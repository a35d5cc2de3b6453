#include "engine/tokenizer/ranked_bpe.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/bpe_merge.h"

namespace llmserve {
namespace {

uint64_t PairKey(int32_t left, int32_t right) {
  return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
}

}  // namespace

absl::StatusOr<RankedBpe> RankedBpe::Build(
    const std::vector<std::pair<std::string, int32_t>>& vocab,
    const std::vector<std::pair<std::string, std::string>>& merges, std::string_view name_view) {
  const std::string name(name_view);
  if (vocab.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": empty vocabulary"));
  RankedBpe bpe;
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab) {
    if (id < 0 || id > kMaxId) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": token \"", token, "\" has id ", id, ", outside 0..", kMaxId));
    }
    max_id = std::max(max_id, id);
  }
  bpe.tokens_.resize(max_id + 1);
  std::vector<bool> seen(max_id + 1, false);
  bpe.ids_.reserve(vocab.size());
  for (const auto& [token, id] : vocab) {
    if (seen[id]) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": id ", id, " is used by both \"",
                                                     bpe.tokens_[id], "\" and \"", token, "\""));
    }
    seen[id] = true;
    bpe.tokens_[id] = token;
    bpe.ids_.emplace(token, id);
  }
  bpe.merges_.reserve(merges.size());
  std::string merged;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    merged.assign(left);
    merged.append(right);
    const int32_t l = bpe.Find(left), r = bpe.Find(right), m = bpe.Find(merged);
    if (l < 0 || r < 0 || m < 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": merge ", rank, " (\"", left, "\" \"",
                                                     right, "\"): \"",
                                                     l < 0   ? left
                                                     : r < 0 ? right
                                                             : merged,
                                                     "\" is not in the vocabulary"));
    }
    bpe.merges_.insert_or_assign(PairKey(l, r), MergeResult{static_cast<int32_t>(rank), m});
  }
  return bpe;
}

int32_t RankedBpe::Find(std::string_view token) const {
  auto it = ids_.find(absl::string_view(token.data(), token.size()));
  return it == ids_.end() ? -1 : it->second;
}

std::string_view RankedBpe::token(int32_t id) const {
  if (id < 0 || id >= id_limit()) return {};
  return tokens_[id];
}

void RankedBpe::Merge(std::vector<int32_t>* ids) const {
  ApplyBpeMerges(
      [this](int32_t left, int32_t right) -> std::optional<BpeMerge> {
        auto it = merges_.find(PairKey(left, right));
        if (it == merges_.end()) return std::nullopt;
        return BpeMerge{it->second.id, -static_cast<double>(it->second.rank)};
      },
      ids);
}

}  // namespace llmserve
