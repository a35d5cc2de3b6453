#include "engine/tokenizer/incremental_detokenizer.h"

#include <string_view>

#include "engine/tokenizer/utf8.h"

namespace llmserve {

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, int32_t prev_token)
    : tokenizer_(tokenizer), prev_token_(prev_token) {}

std::string IncrementalDetokenizer::Push(int32_t id) {
  pending_ += tokenizer_.TokenBytes(prev_token_, id);
  prev_token_ = id;
  std::string out;
  std::string_view rest = pending_;
  while (!rest.empty()) {
    const Utf8Unit u = DecodeUtf8(rest);
    if (u.kind == Utf8Unit::kIncomplete) break;  // wait for the next token
    if (u.kind == Utf8Unit::kValid) {
      out.append(rest.substr(0, u.length));
    } else {
      out.append(kReplacementCharacter);
    }
    rest.remove_prefix(u.length);
  }
  pending_.erase(0, pending_.size() - rest.size());
  return out;
}

std::string IncrementalDetokenizer::Flush() {
  std::string out = SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace llmserve
