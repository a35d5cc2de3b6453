#ifndef LLMSERVE_ENGINE_TOKENIZER_GPT2_PRETOKENIZER_H_
#define LLMSERVE_ENGINE_TOKENIZER_GPT2_PRETOKENIZER_H_

#include <string_view>
#include <vector>

namespace llmserve {

/// Splits `text` into GPT-2 pre-tokens ("words" that BPE then encodes one by
/// one): the matches, left to right, of OpenAI's encoder.py pattern (also
/// Hugging Face's ByteLevel pre-tokenizer with use_regex)
///
///   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// as a hand-written scanner over code points with ICU properties: \p{L} and
/// \p{N} are the general categories L* and N*, \s is the Unicode White_Space
/// property (u_isUWhiteSpace). Ill-formed UTF-8 is scanned one maximal subpart
/// at a time as if it were a punctuation character (neither letter, number nor
/// space), so every byte lands in exactly one pre-token. The pieces are views
/// into `text` and concatenate to it exactly.
std::vector<std::string_view> Gpt2PreTokenize(std::string_view text);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_GPT2_PRETOKENIZER_H_
