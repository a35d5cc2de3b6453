#include "client/bench/prom_text.h"

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace llmserve::bench {
namespace {

bool IsNameStart(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool IsNameChar(char c) { return IsNameStart(c) || absl::ascii_isdigit(static_cast<unsigned char>(c)); }

/// A cursor over one line.
class LineParser {
 public:
  explicit LineParser(absl::string_view line) : line_(line) {}

  absl::Status Parse(PromSample* sample) {
    if (!Name(&sample->name, /*metric=*/true)) return Error("expected a metric name");
    SkipBlanks();
    if (Peek() == '{') {
      ++pos_;
      if (absl::Status s = Labels(&sample->labels); !s.ok()) return s;
    }
    SkipBlanks();
    const absl::string_view value = Token();
    if (value.empty()) return Error("expected a value");
    if (!ParseValue(value, &sample->value)) {
      return Error(absl::StrCat("bad value \"", value, "\""));
    }
    SkipBlanks();
    const absl::string_view timestamp = Token();
    int64_t ignored = 0;
    if (!timestamp.empty() && !absl::SimpleAtoi(timestamp, &ignored)) {
      return Error(absl::StrCat("bad timestamp \"", timestamp, "\""));
    }
    SkipBlanks();
    if (pos_ != line_.size()) return Error("unexpected text after the sample");
    return absl::OkStatus();
  }

 private:
  char Peek() const { return pos_ < line_.size() ? line_[pos_] : '\0'; }
  void SkipBlanks() {
    while (pos_ < line_.size() && (line_[pos_] == ' ' || line_[pos_] == '\t')) ++pos_;
  }
  absl::string_view Token() {
    const size_t start = pos_;
    while (pos_ < line_.size() && line_[pos_] != ' ' && line_[pos_] != '\t') ++pos_;
    return line_.substr(start, pos_ - start);
  }
  bool Name(std::string* out, bool metric) {
    const size_t start = pos_;
    if (!IsNameStart(Peek()) || (!metric && Peek() == ':')) return false;
    while (pos_ < line_.size() && IsNameChar(line_[pos_]) && (metric || line_[pos_] != ':')) ++pos_;
    *out = std::string(line_.substr(start, pos_ - start));
    return true;
  }
  absl::Status Labels(std::map<std::string, std::string>* labels) {
    while (true) {
      SkipBlanks();
      if (Peek() == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      std::string name;
      if (!Name(&name, /*metric=*/false)) return Error("expected a label name or '}'");
      SkipBlanks();
      if (Peek() != '=') return Error(absl::StrCat("expected '=' after label ", name));
      ++pos_;
      SkipBlanks();
      if (Peek() != '"') return Error(absl::StrCat("expected '\"' opening label ", name, "'s value"));
      ++pos_;
      std::string value;
      while (true) {
        if (pos_ >= line_.size()) return Error(absl::StrCat("unterminated value of label ", name));
        const char c = line_[pos_++];
        if (c == '"') break;
        if (c != '\\') {
          value.push_back(c);
          continue;
        }
        const char e = Peek();
        ++pos_;
        if (e == '\\' || e == '"') {
          value.push_back(e);
        } else if (e == 'n') {
          value.push_back('\n');
        } else {
          return Error(absl::StrCat("bad escape in the value of label ", name));
        }
      }
      if (!labels->emplace(name, std::move(value)).second) {
        return Error(absl::StrCat("label ", name, " repeated"));
      }
      SkipBlanks();
      if (Peek() == ',') {
        ++pos_;
      } else if (Peek() != '}') {
        return Error("expected ',' or '}' after a label");
      }
    }
  }
  /// A value as Go's strconv.ParseFloat reads it (Prometheus' parser): a
  /// decimal number, or case-insensitively [+-]Inf, [+-]Infinity, NaN
  /// (prometheus-cpp writes "Nan").
  static bool ParseValue(absl::string_view text, double* value) {
    absl::string_view rest = text;
    double sign = 1;
    if (!rest.empty() && (rest.front() == '+' || rest.front() == '-')) {
      sign = rest.front() == '-' ? -1 : 1;
      rest.remove_prefix(1);
    }
    if (absl::EqualsIgnoreCase(rest, "inf") || absl::EqualsIgnoreCase(rest, "infinity")) {
      *value = sign * std::numeric_limits<double>::infinity();
      return true;
    }
    if (absl::EqualsIgnoreCase(rest, "nan")) {
      *value = std::numeric_limits<double>::quiet_NaN();
      return true;
    }
    return absl::SimpleAtod(text, value) && std::isfinite(*value);
  }
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(what, " at column ", pos_ + 1));
  }

  absl::string_view line_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<PromSample>> ParsePromText(const std::string& text) {
  std::vector<PromSample> samples;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
    if (stripped.empty() || stripped.front() == '#') continue;
    PromSample sample;
    if (absl::Status s = LineParser(stripped).Parse(&sample); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Prometheus text line ", line_number, ": ", s.message()));
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

double SumSamples(const std::vector<PromSample>& samples, const std::string& name,
                  const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for (const PromSample& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [key, value] : labels) {
      auto it = s.labels.find(key);
      if (it == s.labels.end() || it->second != value) match = false;
    }
    if (match) sum += s.value;
  }
  return sum;
}

}  // namespace llmserve::bench
