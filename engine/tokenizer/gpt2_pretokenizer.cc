#include "engine/tokenizer/gpt2_pretokenizer.h"

#include <unicode/uchar.h>

#include <cstdint>

#include "engine/tokenizer/utf8.h"

namespace llmserve {
namespace {

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

struct Unit {
  std::size_t offset;  // byte offset in the text
  int32_t cp;       // code point, -1 for an ill-formed subpart
  CharClass cls;
};

CharClass Classify(int32_t cp) {
  if (cp < 0) return CharClass::kOther;
  if (u_isUWhiteSpace(cp)) return CharClass::kSpace;
  const uint32_t mask = U_GET_GC_MASK(cp);
  if (mask & U_GC_L_MASK) return CharClass::kLetter;
  if (mask & U_GC_N_MASK) return CharClass::kNumber;
  return CharClass::kOther;
}

// Length in units of the contraction ('s 't 're 've 'm 'll 'd) at units[i], or 0.
std::size_t ContractionLength(const std::vector<Unit>& units, std::size_t i) {
  const std::size_t n = units.size();
  if (units[i].cp != '\'' || i + 1 >= n) return 0;
  const int32_t a = units[i + 1].cp;
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= n) return 0;
  const int32_t b = units[i + 2].cp;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

}  // namespace

std::vector<std::string_view> Gpt2PreTokenize(std::string_view text) {
  std::vector<Unit> units;
  units.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    const Utf8Unit u = DecodeUtf8(text.substr(pos));
    const int32_t cp = u.kind == Utf8Unit::kValid ? u.code_point : -1;
    units.push_back({pos, cp, Classify(cp)});
    pos += u.length;
  }
  const std::size_t n = units.size();
  auto offset_of = [&](std::size_t unit) { return unit < n ? units[unit].offset : text.size(); };

  std::vector<std::string_view> words;
  for (std::size_t i = 0; i < n;) {
    std::size_t end = i + ContractionLength(units, i);
    if (end == i) {
      // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional literal space,
      // then a maximal run of one class.
      std::size_t j = i;
      if (units[i].cp == ' ' && i + 1 < n && units[i + 1].cls != CharClass::kSpace) j = i + 1;
      const CharClass cls = units[j].cls;
      end = j;
      while (end < n && units[end].cls == cls) ++end;
      if (cls == CharClass::kSpace) {
        // "\s+(?!\S)|\s+": the whole run at the end of the text; before a
        // non-space, all but the last space (which then prefixes the next
        // word), unless the run is a single character.
        if (end < n && end - i >= 2) --end;
      }
    }
    words.push_back(text.substr(units[i].offset, offset_of(end) - units[i].offset));
    i = end;
  }
  return words;
}

}  // namespace llmserve
