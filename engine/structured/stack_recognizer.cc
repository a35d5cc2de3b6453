#include "engine/structured/stack_recognizer.h"

#include <algorithm>

namespace llmserve::structured {

namespace {
uint64_t Key(int32_t pos, int32_t parent) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) |
         static_cast<uint32_t>(parent);
}
}  // namespace

int32_t StackPool::Intern(int32_t pos, int32_t parent) {
  auto [it, inserted] = index_.try_emplace(Key(pos, parent), static_cast<int32_t>(nodes_.size()));
  if (inserted) nodes_.push_back({pos, parent});
  return it->second;
}

void StackPool::Clear() {
  nodes_.clear();
  index_.clear();
}

void StackRecognizer::Start(StackSet* out) {
  out->Clear();
  visited_.clear();
  for (int32_t alt : pda_->alternatives(pda_->root_rule())) CloseRec(alt, kRootParent, out);
  Normalize(out);
}

void StackRecognizer::Close(int32_t pos, int32_t parent, StackSet* out) {
  visited_.clear();
  CloseRec(pos, parent, out);
}

void StackRecognizer::CloseRec(int32_t pos, int32_t parent, StackSet* out) {
  for (;;) {
    const PdaNode& n = pda_->node(pos);
    switch (n.kind) {
      case PdaNode::Kind::kBytes:
        if (out->stacks.size() > 2 * kMaxStacks) return;  // cut below (Advance)
        out->stacks.push_back(pool_->Intern(pos, parent));
        return;
      case PdaNode::Kind::kStar:
      case PdaNode::Kind::kOptional:
        out->stacks.push_back(pool_->Intern(pos, parent));
        ++pos;  // or skip it
        continue;
      case PdaNode::Kind::kRef: {
        // A cycle of calls that consumes nothing must end: each (call site,
        // parent) is entered once per closure.
        const uint64_t key = Key(pos, parent);
        if (std::find(visited_.begin(), visited_.end(), key) != visited_.end()) return;
        visited_.push_back(key);
        const int32_t ret = pda_->node(pos + 1).kind == PdaNode::Kind::kEnd
                                ? parent
                                : pool_->Intern(pos + 1, parent);
        const std::vector<int32_t>& alts = pda_->alternatives(n.arg);
        for (int32_t alt : alts) CloseRec(alt, ret, out);
        return;
      }
      case PdaNode::Kind::kEnd:
        if (parent == kRootParent) {
          out->accept = true;
          return;
        }
        if (parent == kBottomParent) {
          out->escape = true;
          return;
        }
        {
          const StackPool::Node& p = pool_->node(parent);
          pos = p.pos;
          parent = p.parent;
        }
        continue;
    }
  }
}

void StackRecognizer::Advance(const StackSet& in, uint8_t byte, StackSet* out) {
  out->Clear();
  visited_.clear();
  for (int32_t s : in.stacks) {
    const StackPool::Node n = pool_->node(s);
    if (!pda_->Matches(n.pos, byte)) continue;
    if (pda_->node(n.pos).kind == PdaNode::Kind::kStar) {
      CloseRec(n.pos, n.parent, out);
    } else {
      CloseRec(n.pos + 1, n.parent, out);
    }
  }
  Normalize(out);
  if (out->stacks.size() > kMaxStacks) out->Clear();
}

void StackRecognizer::Normalize(StackSet* out) {
  if (out->stacks.size() > 1) {
    std::sort(out->stacks.begin(), out->stacks.end());
    out->stacks.erase(std::unique(out->stacks.begin(), out->stacks.end()), out->stacks.end());
  }
}

}  // namespace llmserve::structured
