#include "engine/tokenizer/added_tokens.h"

#include <algorithm>

namespace llmserve {
namespace {

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

AddedTokenSplitter::AddedTokenSplitter(std::vector<AddedToken> tokens)
    : tokens_(std::move(tokens)) {
  for (uint32_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].content.empty()) continue;
    by_first_byte_[static_cast<uint8_t>(tokens_[i].content[0])].push_back(i);
  }
  for (auto& list : by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [this](uint32_t a, uint32_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
  }
}

std::vector<AddedTokenSplitter::Segment> AddedTokenSplitter::Split(std::string_view text) const {
  std::vector<Segment> out;
  std::size_t plain_start = 0;  // start of the pending plain text
  for (std::size_t pos = 0; pos < text.size();) {
    const AddedToken* match = nullptr;
    for (uint32_t i : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      if (text.substr(pos).starts_with(tokens_[i].content)) {
        match = &tokens_[i];
        break;
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    std::size_t begin = pos;
    std::size_t end = pos + match->content.size();
    if (match->lstrip) {
      while (begin > plain_start && IsAsciiSpace(text[begin - 1])) --begin;
    }
    if (match->rstrip) {
      while (end < text.size() && IsAsciiSpace(text[end])) ++end;
    }
    if (begin > plain_start) {
      out.push_back({text.substr(plain_start, begin - plain_start), plain_start, -1});
    }
    out.push_back({text.substr(begin, end - begin), begin, match->id});
    plain_start = pos = end;
  }
  if (plain_start < text.size()) {
    out.push_back({text.substr(plain_start), plain_start, -1});
  }
  return out;
}

}  // namespace llmserve
