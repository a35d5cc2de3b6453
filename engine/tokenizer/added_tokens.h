#ifndef LLMSERVE_ENGINE_TOKENIZER_ADDED_TOKENS_H_
#define LLMSERVE_ENGINE_TOKENIZER_ADDED_TOKENS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmserve {

/// A Hugging Face "added token" (tokenizer.json `added_tokens`): text that is
/// always encoded as one whole token, before normalization and BPE.
struct AddedToken {
  int32_t id = -1;
  std::string content;
  /// Special tokens (BOS, EOS, ...) contribute no text when decoding.
  bool special = false;
  /// Whether the token swallows ASCII whitespace on its left / right.
  bool lstrip = false;
  bool rstrip = false;
};

/// Finds added tokens in text, the way Hugging Face tokenizers does before it
/// runs the model: leftmost match first, the longest token at that position,
/// non-overlapping. Differences: `single_word` and `normalized` are not
/// supported (tokens always match the raw text anywhere), and lstrip/rstrip
/// strip ASCII whitespace only.
class AddedTokenSplitter {
 public:
  /// A piece of the input: either an added token or plain text between them.
  struct Segment {
    std::string_view text;  // the matched text (with stripped whitespace) or plain text
    std::size_t offset;     // byte offset of `text` in the input
    int32_t token_id;       // the added token's id, or -1 for plain text
  };

  AddedTokenSplitter() = default;
  /// Tokens with empty content are ignored.
  explicit AddedTokenSplitter(std::vector<AddedToken> tokens);

  /// Splits `text` into plain-text segments (never empty) and added tokens, in
  /// order; their `text`s concatenate to `text`.
  std::vector<Segment> Split(std::string_view text) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  std::vector<AddedToken> tokens_;
  /// For each first byte, indices into tokens_, longest content first.
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_ADDED_TOKENS_H_
