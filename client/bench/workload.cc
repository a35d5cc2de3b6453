#include "client/bench/workload.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace llmserve::bench {
namespace {

/// Draws ids uniformly from [0, vocab_size) minus the excluded ones.
class TokenDrawer {
 public:
  TokenDrawer(int vocab_size, const std::vector<int>& excluded, uint64_t seed) : rng_(seed) {
    for (int id = 0; id < vocab_size; ++id) {
      if (std::find(excluded.begin(), excluded.end(), id) == excluded.end()) allowed_.push_back(id);
    }
  }
  bool empty() const { return allowed_.empty(); }
  std::vector<uint32_t> Draw(int n) {
    std::uniform_int_distribution<size_t> pick(0, allowed_.size() - 1);
    std::vector<uint32_t> ids(static_cast<size_t>(n));
    for (uint32_t& id : ids) id = allowed_[pick(rng_)];
    return ids;
  }
  /// A length uniform in [len * (1 - ratio), len * (1 + ratio)], at least 1.
  int Length(int len, double ratio) {
    const int lo = std::max(1, static_cast<int>(std::floor(len * (1 - ratio))));
    const int hi = std::max(lo, static_cast<int>(std::ceil(len * (1 + ratio))));
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }

 private:
  std::mt19937_64 rng_;
  std::vector<uint32_t> allowed_;
};

absl::Status Positive(const char* name, int value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(name, " must be > 0, got ", value));
}

}  // namespace

absl::StatusOr<std::vector<BenchRequest>> RandomWorkload(const RandomWorkloadOptions& o) {
  for (auto [name, value] : {std::pair{"num_requests", o.num_requests},
                             {"input_len", o.input_len},
                             {"output_len", o.output_len},
                             {"vocab_size", o.vocab_size}}) {
    if (absl::Status s = Positive(name, value); !s.ok()) return s;
  }
  if (!(o.range_ratio >= 0 && o.range_ratio < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("range_ratio must be in [0, 1), got ", o.range_ratio));
  }
  TokenDrawer drawer(o.vocab_size, o.excluded_ids, o.seed);
  if (drawer.empty()) return absl::InvalidArgumentError("no token id left to draw from");
  std::vector<BenchRequest> requests(static_cast<size_t>(o.num_requests));
  for (BenchRequest& r : requests) {
    r.token_ids = drawer.Draw(drawer.Length(o.input_len, o.range_ratio));
    r.max_tokens = drawer.Length(o.output_len, o.range_ratio);
  }
  return requests;
}

absl::StatusOr<std::vector<BenchRequest>> PrefixWorkload(const PrefixWorkloadOptions& o) {
  for (auto [name, value] : {std::pair{"num_prefixes", o.num_prefixes},
                             {"suffixes_per_prefix", o.suffixes_per_prefix},
                             {"prefix_len", o.prefix_len},
                             {"suffix_len", o.suffix_len},
                             {"output_len", o.output_len},
                             {"vocab_size", o.vocab_size}}) {
    if (absl::Status s = Positive(name, value); !s.ok()) return s;
  }
  TokenDrawer drawer(o.vocab_size, o.excluded_ids, o.seed);
  if (drawer.empty()) return absl::InvalidArgumentError("no token id left to draw from");
  std::vector<std::vector<uint32_t>> prefixes;
  for (int p = 0; p < o.num_prefixes; ++p) prefixes.push_back(drawer.Draw(o.prefix_len));
  std::vector<BenchRequest> requests;
  for (int s = 0; s < o.suffixes_per_prefix; ++s) {
    for (int p = 0; p < o.num_prefixes; ++p) {
      BenchRequest r;
      r.token_ids = prefixes[static_cast<size_t>(p)];
      const std::vector<uint32_t> suffix = drawer.Draw(o.suffix_len);
      r.token_ids.insert(r.token_ids.end(), suffix.begin(), suffix.end());
      r.max_tokens = o.output_len;
      requests.push_back(std::move(r));
    }
  }
  return requests;
}

absl::StatusOr<std::vector<BenchRequest>> ParseJsonl(const std::string& contents,
                                                     int default_max_tokens) {
  std::vector<BenchRequest> requests;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    auto bad = [&](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat("JSONL line ", line_number, ": ", what));
    };
    if (object.is_discarded()) return bad("not valid JSON");
    if (!object.is_object()) return bad("not a JSON object");
    auto prompt = object.find("prompt");
    if (prompt == object.end() || !prompt->is_string()) return bad("\"prompt\" (a string) missing");
    BenchRequest r;
    r.text = prompt->get<std::string>();
    r.max_tokens = default_max_tokens;
    if (auto max_tokens = object.find("max_tokens"); max_tokens != object.end()) {
      if (!max_tokens->is_number_integer() || max_tokens->get<int64_t>() <= 0 ||
          max_tokens->get<int64_t>() > (1 << 30)) {
        return bad("\"max_tokens\" must be a positive integer");
      }
      r.max_tokens = max_tokens->get<int>();
    }
    requests.push_back(std::move(r));
  }
  if (requests.empty()) return absl::InvalidArgumentError("JSONL: no requests");
  return requests;
}

bool LooksLikeShareGpt(const std::string& contents) {
  for (char c : contents) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) continue;
    return c == '[';
  }
  return false;
}

absl::StatusOr<std::vector<BenchRequest>> ParseShareGpt(const std::string& contents,
                                                        const TokenCounter& count_tokens,
                                                        int max_requests) {
  const nlohmann::json root = nlohmann::json::parse(contents, nullptr, false);
  if (root.is_discarded() || !root.is_array()) {
    return absl::InvalidArgumentError("ShareGPT: not a JSON array");
  }
  std::vector<BenchRequest> requests;
  for (const nlohmann::json& entry : root) {
    if (max_requests > 0 && static_cast<int>(requests.size()) >= max_requests) break;
    if (!entry.is_object()) continue;
    auto turns = entry.find("conversations");
    if (turns == entry.end() || !turns->is_array()) continue;
    // The first human turn and the turn after it.
    for (size_t i = 0; i + 1 < turns->size(); ++i) {
      const nlohmann::json& turn = (*turns)[i];
      const nlohmann::json& reply = (*turns)[i + 1];
      if (!turn.is_object() || turn.value("from", "") != "human") continue;
      if (!turn.contains("value") || !turn["value"].is_string() || !reply.is_object() ||
          !reply.contains("value") || !reply["value"].is_string()) {
        break;
      }
      BenchRequest r;
      r.text = turn["value"].get<std::string>();
      absl::StatusOr<int> n = count_tokens(reply["value"].get<std::string>());
      if (!n.ok()) return n.status();
      r.max_tokens = std::max(1, *n);
      requests.push_back(std::move(r));
      break;
    }
  }
  if (requests.empty()) return absl::InvalidArgumentError("ShareGPT: no usable conversation");
  return requests;
}

}  // namespace llmserve::bench
