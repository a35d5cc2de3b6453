#include "engine/chat_template/lexer.h"

#include <cctype>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace llmserve::chat_template {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int CountNewlines(std::string_view s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

absl::Status LexError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("chat template line ", line, ": ", what));
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes a string literal body with Python's unicode-escape rules (what
// Jinja2 applies to its string tokens): \n \t \r \\ \' \" \a \b \f \v \ooo
// \xNN \uNNNN \UNNNNNNNN; an unknown escape keeps its backslash.
absl::Status DecodeString(std::string_view body, int line, std::string* out) {
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      *out += c;
      continue;
    }
    char e = body[++i];
    switch (e) {
      case 'n': *out += '\n'; break;
      case 't': *out += '\t'; break;
      case 'r': *out += '\r'; break;
      case 'a': *out += '\a'; break;
      case 'b': *out += '\b'; break;
      case 'f': *out += '\f'; break;
      case 'v': *out += '\v'; break;
      case '\\': *out += '\\'; break;
      case '\'': *out += '\''; break;
      case '"': *out += '"'; break;
      case '\n': break;  // line continuation
      case 'x':
      case 'u':
      case 'U': {
        size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (i + digits >= body.size()) {
          return LexError(line, "truncated \\" + std::string(1, e) + " escape in a string literal");
        }
        std::string hex(body.substr(i + 1, digits));
        for (char h : hex) {
          if (!std::isxdigit(static_cast<unsigned char>(h))) {
            return LexError(line, "bad \\" + std::string(1, e) + " escape in a string literal");
          }
        }
        uint32_t cp = static_cast<uint32_t>(std::strtoul(hex.c_str(), nullptr, 16));
        if (cp > 0x10FFFF) return LexError(line, "escape out of Unicode range in a string literal");
        AppendUtf8(cp, out);
        i += digits;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = 0;
          size_t n = 0;
          while (n < 3 && i < body.size() && body[i] >= '0' && body[i] <= '7') {
            cp = cp * 8 + static_cast<uint32_t>(body[i] - '0');
            ++i;
            ++n;
          }
          --i;
          AppendUtf8(cp, out);
        } else {
          *out += '\\';
          *out += e;
        }
    }
  }
  return absl::OkStatus();
}

// Tokenizes the inside of a tag (without its delimiters and strip signs).
absl::Status Tokenize(std::string_view body, int line, std::vector<Token>* tokens) {
  static constexpr std::string_view kTwoCharOps[] = {"//", "**", "==", "!=", ">=", "<="};
  static constexpr std::string_view kOneCharOps = "+-*/%~<>=()[]{},.:|";
  size_t i = 0;
  while (i < body.size()) {
    char c = body[i];
    if (IsSpace(c)) {
      line += c == '\n';
      ++i;
      continue;
    }
    Token t;
    t.line = line;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < body.size() && (std::isalnum(static_cast<unsigned char>(body[j])) || body[j] == '_')) ++j;
      t.type = Token::Type::kName;
      t.text = std::string(body.substr(i, j - i));
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      bool is_float = false;
      while (j < body.size() && (std::isdigit(static_cast<unsigned char>(body[j])) || body[j] == '_')) ++j;
      if (j + 1 < body.size() && body[j] == '.' && std::isdigit(static_cast<unsigned char>(body[j + 1]))) {
        is_float = true;
        ++j;
        while (j < body.size() && (std::isdigit(static_cast<unsigned char>(body[j])) || body[j] == '_')) ++j;
      }
      if (j < body.size() && (body[j] == 'e' || body[j] == 'E')) {
        size_t k = j + 1;
        if (k < body.size() && (body[k] == '+' || body[k] == '-')) ++k;
        if (k < body.size() && std::isdigit(static_cast<unsigned char>(body[k]))) {
          is_float = true;
          j = k;
          while (j < body.size() && std::isdigit(static_cast<unsigned char>(body[j]))) ++j;
        }
      }
      std::string digits;
      for (char d : body.substr(i, j - i)) {
        if (d != '_') digits += d;
      }
      if (is_float) {
        t.type = Token::Type::kFloat;
        t.float_value = std::strtod(digits.c_str(), nullptr);
      } else {
        t.type = Token::Type::kInt;
        errno = 0;
        t.int_value = std::strtoll(digits.c_str(), nullptr, 10);
        if (errno == ERANGE) return LexError(line, "integer literal " + digits + " out of range");
      }
      t.text = digits;
      i = j;
    } else if (c == '\'' || c == '"') {
      size_t j = i + 1;
      while (j < body.size() && body[j] != c) {
        if (body[j] == '\\') ++j;
        ++j;
      }
      if (j >= body.size()) return LexError(line, "unterminated string literal");
      t.type = Token::Type::kString;
      std::string_view raw = body.substr(i + 1, j - i - 1);
      if (absl::Status s = DecodeString(raw, line, &t.text); !s.ok()) return s;
      line += CountNewlines(raw);
      i = j + 1;
    } else {
      t.type = Token::Type::kOperator;
      for (std::string_view op : kTwoCharOps) {
        if (body.substr(i, 2) == op) t.text = std::string(op);
      }
      if (t.text.empty()) {
        if (kOneCharOps.find(c) == std::string_view::npos) {
          return LexError(line, absl::StrCat("unexpected character '", std::string(1, c), "'"));
        }
        t.text = std::string(1, c);
      }
      i += t.text.size();
    }
    tokens->push_back(std::move(t));
  }
  Token end;
  end.line = line;
  tokens->push_back(end);
  return absl::OkStatus();
}

// Finds the end delimiter `close` ("}}" or "%}") of a tag whose body starts at
// `from`, skipping string literals and, as Jinja2's lexer does, ignoring the
// delimiter while brackets are open (`{{ {'a': {}} }}`). Returns npos if unclosed.
size_t FindTagEnd(std::string_view src, size_t from, std::string_view close) {
  size_t i = from;
  int depth = 0;
  while (i < src.size()) {
    char c = src[i];
    if (depth == 0 && (src.substr(i, 2) == close ||
                       (c == '-' && src.substr(i + 1, 2) == close))) {
      return c == '-' ? i + 1 : i;
    }
    if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
      --depth;
    }
    if (c == '\'' || c == '"') {
      size_t j = i + 1;
      while (j < src.size() && src[j] != c) {
        if (src[j] == '\\') ++j;
        ++j;
      }
      if (j >= src.size()) return std::string_view::npos;
      i = j + 1;
      continue;
    }
    ++i;
  }
  return std::string_view::npos;
}

bool IsRawTag(const std::vector<Token>& tokens) {
  return tokens.size() == 2 && tokens[0].type == Token::Type::kName && tokens[0].text == "raw";
}

}  // namespace

absl::StatusOr<std::vector<Segment>> LexTemplate(std::string_view source) {
  // Newlines normalized to "\n"; one trailing newline dropped.
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();

  std::vector<Segment> segments;
  size_t pos = 0;
  int line = 1;
  bool line_starting = true;
  auto emit_text = [&](std::string text, int text_line) {
    if (text.empty()) return;
    Segment s;
    s.kind = Segment::Kind::kText;
    s.text = std::move(text);
    s.line = text_line;
    segments.push_back(std::move(s));
  };
  while (pos <= src.size()) {
    size_t tag = pos;
    while (tag + 1 < src.size() &&
           !(src[tag] == '{' && (src[tag + 1] == '{' || src[tag + 1] == '%' || src[tag + 1] == '#'))) {
      ++tag;
    }
    if (tag + 1 >= src.size()) {
      emit_text(src.substr(pos), line);
      break;
    }
    std::string text = src.substr(pos, tag - pos);
    const int text_line = line;
    line += CountNewlines(text);
    const char kind = src[tag + 1];
    const char sign = tag + 2 < src.size() ? src[tag + 2] : '\0';
    const bool has_sign = sign == '-' || sign == '+';
    if (sign == '-') {
      size_t end = text.find_last_not_of(" \t\n\r\v\f");
      text.erase(end == std::string::npos ? 0 : end + 1);
    } else if (sign != '+' && kind != '{') {
      // lstrip_blocks: only spaces/tabs between the line start and the tag.
      size_t l_pos = text.rfind('\n');
      l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
      if ((l_pos > 0 || line_starting) &&
          text.find_first_not_of(" \t\v\f\r", l_pos) == std::string::npos) {
        text.erase(l_pos);
      }
    }
    emit_text(std::move(text), text_line);

    const int tag_line = line;
    const size_t body_start = tag + 2 + (has_sign ? 1 : 0);
    size_t end;
    if (kind == '#') {
      end = src.find("#}", body_start);
      if (end == std::string::npos) return LexError(tag_line, "unclosed comment '{#'");
    } else {
      end = FindTagEnd(src, body_start, kind == '{' ? "}}" : "%}");
      if (end == std::string::npos) {
        return LexError(tag_line, kind == '{' ? "unclosed expression '{{'" : "unclosed statement '{%'");
      }
    }
    const char end_sign = end > body_start ? src[end - 1] : '\0';
    const bool strip_after = end_sign == '-';
    const bool keep_after = end_sign == '+' && kind != '{';
    const size_t body_end = (strip_after || keep_after) ? end - 1 : end;
    std::string_view body = std::string_view(src).substr(body_start, body_end - body_start);
    size_t after = end + 2;

    if (kind != '#') {
      Segment s;
      s.kind = kind == '{' ? Segment::Kind::kExpression : Segment::Kind::kStatement;
      s.line = tag_line;
      if (absl::Status st = Tokenize(body, tag_line, &s.tokens); !st.ok()) return st;
      if (s.kind == Segment::Kind::kStatement && IsRawTag(s.tokens)) {
        // {% raw %}: everything up to {% endraw %} is text.
        size_t search = after;
        size_t raw_end = std::string::npos, raw_close = 0;
        bool raw_strip_before = false, raw_strip_after = false;
        while ((search = src.find("{%", search)) != std::string::npos) {
          size_t k = search + 2;
          bool minus = k < src.size() && src[k] == '-';
          if (minus) ++k;
          while (k < src.size() && IsSpace(src[k])) ++k;
          if (src.compare(k, 6, "endraw") == 0) {
            k += 6;
            while (k < src.size() && IsSpace(src[k])) ++k;
            bool minus_after = k < src.size() && src[k] == '-';
            if (minus_after) ++k;
            if (src.compare(k, 2, "%}") == 0) {
              raw_end = search;
              raw_close = k + 2;
              raw_strip_before = minus;
              raw_strip_after = minus_after;
              break;
            }
          }
          search += 2;
        }
        if (raw_end == std::string::npos) return LexError(tag_line, "'raw' without 'endraw'");
        size_t content_start = after;
        if (strip_after) {
          while (content_start < raw_end && IsSpace(src[content_start])) ++content_start;
        } else if (!keep_after && content_start < raw_end && src[content_start] == '\n') {
          ++content_start;
        }
        std::string content = src.substr(content_start, raw_end - content_start);
        if (raw_strip_before) {
          size_t e = content.find_last_not_of(" \t\n\r\v\f");
          content.erase(e == std::string::npos ? 0 : e + 1);
        }
        line += CountNewlines(src.substr(tag, raw_close - tag));
        emit_text(std::move(content), tag_line);
        after = raw_close;
        if (raw_strip_after) {
          while (after < src.size() && IsSpace(src[after])) ++after;
        } else if (after < src.size() && src[after] == '\n') {
          ++after;
        }
        line += CountNewlines(std::string_view(src).substr(raw_close, after - raw_close));
        line_starting = after > 0 && src[after - 1] == '\n';
        pos = after;
        continue;
      }
      segments.push_back(std::move(s));
    }
    if (strip_after) {
      while (after < src.size() && IsSpace(src[after])) ++after;
    } else if (kind != '{' && !keep_after && after < src.size() && src[after] == '\n') {
      ++after;  // trim_blocks
    }
    line += CountNewlines(std::string_view(src).substr(tag, after - tag));
    line_starting = src[after - 1] == '\n';
    pos = after;
    if (pos == src.size()) break;
  }
  return segments;
}

}  // namespace llmserve::chat_template
