#ifndef LLMSERVE_ENGINE_TOKENIZER_UTF8_H_
#define LLMSERVE_ENGINE_TOKENIZER_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace llmserve {

/// Result of decoding one UTF-8 sequence (see DecodeUtf8).
struct Utf8Unit {
  /// Kind of the unit.
  enum Kind : uint8_t {
    kValid,       // a well-formed sequence; `code_point` is set
    kInvalid,     // an ill-formed maximal subpart; `code_point` is -1
    kIncomplete,  // input ended inside a sequence that could still be valid
  };
  Kind kind;
  /// Number of bytes consumed: 1..4, always >= 1 for non-empty input.
  int length;
  /// The Unicode scalar value for kValid, else -1.
  int32_t code_point;
};

/// Decodes the UTF-8 sequence at the start of `s` (must be non-empty), following
/// the Unicode Standard, Table 3-7 (well-formed byte sequences: no overlongs, no
/// surrogates, nothing above U+10FFFF). An ill-formed start is reported as one
/// "maximal subpart" (Unicode §3.9, U+FFFD substitution of maximal subparts, the
/// practice of ICU, Python and the WHATWG Encoding Standard): the longest prefix
/// of a well-formed sequence, at least one byte. When `s` ends inside such a
/// prefix, the unit is kIncomplete and spans the rest of `s`.
Utf8Unit DecodeUtf8(std::string_view s);

/// True if `s` is entirely well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

/// Appends the UTF-8 encoding of the scalar value `code_point` (0..0x10FFFF,
/// not a surrogate; anything else appends U+FFFD).
void AppendUtf8(int32_t code_point, std::string* out);

/// The UTF-8 bytes of U+FFFD REPLACEMENT CHARACTER.
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

/// Returns `s` with each ill-formed maximal subpart, and an incomplete trailing
/// sequence, replaced by U+FFFD; well-formed input is returned unchanged.
std::string SanitizeUtf8(std::string_view s);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_UTF8_H_
