#include "engine/tokenizer/utf8.h"

namespace llmserve {

Utf8Unit DecodeUtf8(std::string_view s) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (b0 < 0x80) return {Utf8Unit::kValid, 1, b0};
  // Table 3-7: the number of continuation bytes and the range of the second byte.
  int extra = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  int32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    extra = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    extra = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    extra = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {Utf8Unit::kInvalid, 1, -1};  // 80..C1, F5..FF never start a sequence
  }
  for (int i = 1; i <= extra; ++i) {
    if (static_cast<std::size_t>(i) >= s.size()) return {Utf8Unit::kIncomplete, i, -1};
    const auto b = static_cast<uint8_t>(s[i]);
    const uint8_t min = i == 1 ? lo : 0x80;
    const uint8_t max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return {Utf8Unit::kInvalid, i, -1};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {Utf8Unit::kValid, extra + 1, cp};
}

bool IsValidUtf8(std::string_view s) {
  while (!s.empty()) {
    const Utf8Unit u = DecodeUtf8(s);
    if (u.kind != Utf8Unit::kValid) return false;
    s.remove_prefix(u.length);
  }
  return true;
}

void AppendUtf8(int32_t cp, std::string* out) {
  if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    out->append(kReplacementCharacter);
  } else if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const Utf8Unit u = DecodeUtf8(s);
    if (u.kind == Utf8Unit::kValid) {
      out.append(s.substr(0, u.length));
    } else {
      out.append(kReplacementCharacter);
    }
    s.remove_prefix(u.length);
  }
  return out;
}

}  // namespace llmserve
