#include "client/generation_flags.h"

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

ABSL_FLAG(std::vector<std::string>, stop, {},
          "Comma-separated stop strings (so none can contain a comma).");
ABSL_FLAG(std::optional<float>, min_p, std::nullopt,
          "Min-p sampling in [0, 1] (server default 0 = disabled).");
ABSL_FLAG(std::optional<float>, repetition_penalty, std::nullopt,
          "Multiplicative repetition penalty over prompt and completion tokens "
          "(server default 1 = disabled).");
ABSL_FLAG(std::optional<float>, presence_penalty, std::nullopt,
          "Additive presence penalty over completion tokens, in [-2, 2].");
ABSL_FLAG(std::optional<float>, frequency_penalty, std::nullopt,
          "Additive frequency penalty over completion tokens, in [-2, 2].");
ABSL_FLAG(std::vector<std::string>, logit_bias, {},
          "Comma-separated TOKEN_ID:BIAS pairs added to the logits, e.g. 13:-100,42:5.");
ABSL_FLAG(std::vector<std::string>, banned_token_ids, {},
          "Comma-separated token ids that are never generated.");
ABSL_FLAG(std::vector<std::string>, stop_token_ids, {},
          "Comma-separated token ids that end a completion (finish reason stop).");
ABSL_FLAG(std::optional<int>, min_tokens, std::nullopt,
          "EOS, stop ids and stop strings cannot end a completion before this many tokens.");
ABSL_FLAG(std::optional<int>, logprobs, std::nullopt,
          "Request each generated token's log-probability and its K most likely alternatives.");
ABSL_FLAG(std::optional<int>, prompt_logprobs, std::nullopt,
          "Request each prompt token's log-probability and K alternatives.");
ABSL_FLAG(std::optional<int>, n, std::nullopt, "Completions per request (server default 1).");
ABSL_FLAG(std::string, json_schema, "",
          "Structured output: a file holding a JSON Schema the completion must be valid against.");
ABSL_FLAG(bool, json_object, false, "Structured output: the completion is any JSON object.");
ABSL_FLAG(std::string, regex, "",
          "Structured output: a regular expression the whole completion matches.");
ABSL_FLAG(std::vector<std::string>, choice, {},
          "Structured output: comma-separated strings; the completion is exactly one of them.");
ABSL_FLAG(std::string, grammar, "",
          "Structured output: a file holding a GBNF grammar (root rule `root`) the completion derives from.");

namespace llmserve::client {
namespace {

/// Appends the token ids of `flag` to `out`; INVALID_ARGUMENT on a bad one.
absl::Status ParseIds(const std::vector<std::string>& ids, const char* flag,
                      google::protobuf::RepeatedField<uint32_t>* out) {
  for (const std::string& s : ids) {
    uint32_t id = 0;
    if (!absl::SimpleAtoi(s, &id)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": not a token id: \"", s, "\""));
    }
    out->Add(id);
  }
  return absl::OkStatus();
}

/// The contents of the file `path` named by `flag`; INVALID_ARGUMENT naming
/// the flag and the file when it cannot be read.
absl::StatusOr<std::string> ReadFlagFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read \"", path, "\""));
  }
  return text.str();
}

/// Sets params->structured_output from --json-schema, --json-object,
/// --regex, --choice or --grammar (at most one).
absl::Status ApplyStructuredOutputFlags(v1::SamplingParams* p) {
  const std::string schema_file = absl::GetFlag(FLAGS_json_schema);
  const std::string regex = absl::GetFlag(FLAGS_regex);
  const std::vector<std::string> choices = absl::GetFlag(FLAGS_choice);
  const std::string grammar_file = absl::GetFlag(FLAGS_grammar);
  const bool json_object = absl::GetFlag(FLAGS_json_object);
  const int set = static_cast<int>(!schema_file.empty()) + static_cast<int>(json_object) +
                  static_cast<int>(!regex.empty()) + static_cast<int>(!choices.empty()) +
                  static_cast<int>(!grammar_file.empty());
  if (set == 0) return absl::OkStatus();
  if (set > 1) {
    return absl::InvalidArgumentError(
        "at most one of --json-schema, --json-object, --regex, --choice and --grammar");
  }
  v1::StructuredOutput* so = p->mutable_structured_output();
  if (!schema_file.empty()) {
    absl::StatusOr<std::string> text = ReadFlagFile(schema_file, "--json-schema");
    if (!text.ok()) return text.status();
    so->set_json_schema(*std::move(text));
  } else if (json_object) {
    so->set_json_object(true);
  } else if (!regex.empty()) {
    so->set_regex(regex);
  } else if (!choices.empty()) {
    for (const std::string& c : choices) so->mutable_choice()->add_choices(c);
  } else {
    absl::StatusOr<std::string> text = ReadFlagFile(grammar_file, "--grammar");
    if (!text.ok()) return text.status();
    so->set_grammar(*std::move(text));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyGenerationFlags(v1::SamplingParams* p) {
  for (const std::string& s : absl::GetFlag(FLAGS_stop)) p->add_stop(s);
  if (auto v = absl::GetFlag(FLAGS_min_p)) p->set_min_p(*v);
  if (auto v = absl::GetFlag(FLAGS_repetition_penalty)) p->set_repetition_penalty(*v);
  if (auto v = absl::GetFlag(FLAGS_presence_penalty)) p->set_presence_penalty(*v);
  if (auto v = absl::GetFlag(FLAGS_frequency_penalty)) p->set_frequency_penalty(*v);
  for (const std::string& pair : absl::GetFlag(FLAGS_logit_bias)) {
    std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits(':', 1));
    uint32_t id = 0;
    float bias = 0;
    if (!absl::SimpleAtoi(kv.first, &id) || !absl::SimpleAtof(kv.second, &bias)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--logit-bias: not TOKEN_ID:BIAS: \"", pair, "\""));
    }
    (*p->mutable_logit_bias())[id] = bias;
  }
  if (absl::Status s = ParseIds(absl::GetFlag(FLAGS_banned_token_ids), "--banned-token-ids",
                                p->mutable_banned_token_ids());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseIds(absl::GetFlag(FLAGS_stop_token_ids), "--stop-token-ids",
                                p->mutable_stop_token_ids());
      !s.ok()) {
    return s;
  }
  // Negative values are sent as huge unsigned ones, so the server refuses them.
  if (auto v = absl::GetFlag(FLAGS_min_tokens)) p->set_min_tokens(static_cast<uint32_t>(*v));
  if (auto v = absl::GetFlag(FLAGS_logprobs)) p->set_logprobs(static_cast<uint32_t>(*v));
  if (auto v = absl::GetFlag(FLAGS_prompt_logprobs)) {
    p->set_prompt_logprobs(static_cast<uint32_t>(*v));
  }
  if (auto v = absl::GetFlag(FLAGS_n)) p->set_n(static_cast<uint32_t>(*v));
  return ApplyStructuredOutputFlags(p);
}

}  // namespace llmserve::client
