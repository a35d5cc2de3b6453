#include "engine/tokenizer/bpe_merge.h"

#include <queue>

namespace llmserve {
namespace {

struct Symbol {
  int32_t id;    // -1 once merged into its left neighbour
  int32_t prev;  // index of the previous live symbol, -1 at the start
  int32_t next;  // index of the next live symbol, -1 at the end
};

// A merge of the live symbols `left` and `right` (= next of left) as they were
// when it was queued; stale if either symbol changed since.
struct Candidate {
  double priority;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t merged_id;
};

// Max-heap order: higher priority first, then the leftmost pair. Symbol indices
// increase from left to right and a merged symbol keeps its left index, so
// "smaller left index" is "further left" at every step.
struct LowerPriority {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.left > b.left;
  }
};

}  // namespace

void ApplyBpeMerges(BpeMergeLookup lookup, std::vector<int32_t>* ids) {
  const auto n = static_cast<int32_t>(ids->size());
  if (n < 2) return;
  std::vector<Symbol> symbols(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = {(*ids)[i], i - 1, i + 1 < n ? i + 1 : -1};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, LowerPriority> queue;
  auto push_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::optional<BpeMerge> merge = lookup(symbols[left].id, symbols[right].id);
    if (!merge.has_value()) return;
    queue.push({merge->priority, left, right, symbols[left].id, symbols[right].id, merge->id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i, i + 1);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    // Still adjacent with the same ids: then it is exactly the current pair's
    // merge (a merge depends only on the two ids), otherwise it is stale.
    if (left.id != c.left_id || left.next != c.right || symbols[c.right].id != c.right_id) {
      continue;
    }
    Symbol& right = symbols[c.right];
    left.id = c.merged_id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    right.id = -1;
    push_pair(left.prev, c.left);
    push_pair(c.left, left.next);
  }

  std::size_t out = 0;
  for (int32_t i = 0; i >= 0; i = symbols[i].next) (*ids)[out++] = symbols[i].id;
  ids->resize(out);
}

}  // namespace llmserve
