#include "client/bench/openai_protocol.h"

#include <array>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace llmserve::bench {
namespace {

using json = nlohmann::json;

/// Tokens of one choice: its logprobs' length, else 1 if it has text.
int ChoiceTokens(const json& choice) {
  if (const auto lp = choice.find("logprobs"); lp != choice.end() && lp->is_object()) {
    if (const auto t = lp->find("tokens"); t != lp->end() && t->is_array()) {
      return static_cast<int>(t->size());  // completions
    }
    if (const auto c = lp->find("content"); c != lp->end() && c->is_array()) {
      return static_cast<int>(c->size());  // chat
    }
  }
  auto has_text = [](const json& object, const char* field) {
    const auto it = object.find(field);
    return it != object.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
  };
  if (has_text(choice, "text")) return 1;
  for (const char* holder : {"delta", "message"}) {
    const auto it = choice.find(holder);
    if (it != choice.end() && it->is_object() &&
        (has_text(*it, "content") || has_text(*it, "reasoning_content"))) {
      return 1;
    }
  }
  return 0;
}

int IntField(const json& object, const char* field) {
  const auto it = object.find(field);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

}  // namespace

absl::StatusOr<BaseUrl> ParseBaseUrl(absl::string_view url) {
  if (absl::StartsWith(url, "https://")) {
    return absl::UnimplementedError(
        absl::StrCat("base URL \"", url, "\": https is not supported by the HTTP backends"));
  }
  if (!absl::StartsWith(url, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("base URL \"", url, "\" does not start with http://"));
  }
  absl::string_view rest = url.substr(7);
  BaseUrl out;
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  if (slash != absl::string_view::npos) {
    absl::string_view path = rest.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    out.path_prefix = std::string(path);
  }
  if (const size_t colon = authority.rfind(':');
      colon != absl::string_view::npos && authority.find(']', colon) == absl::string_view::npos) {
    out.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
    int port = 0;
    if (!absl::SimpleAtoi(out.port, &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("base URL \"", url, "\": bad port \"", out.port, "\""));
    }
  }
  if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);  // [IPv6]
  }
  if (authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("base URL \"", url, "\" has no host"));
  }
  out.host = std::string(authority);
  return out;
}

std::string ChatTextForTokenIds(const std::vector<uint32_t>& token_ids) {
  static constexpr std::array<const char*, 32> kWords = {
      "the",  "of",    "and", "to",   "in",  "is",  "that", "for", "it",   "as",   "was",
      "with", "be",    "by",  "on",   "not", "he",  "this", "are", "or",   "his",  "from",
      "at",   "which", "but", "have", "an",  "had", "they", "you", "were", "their"};
  std::string text;
  for (size_t i = 0; i < token_ids.size(); ++i) {
    if (i > 0) text.push_back(' ');
    text.append(kWords[token_ids[i] % kWords.size()]);
  }
  return text;
}

json BuildOpenAIRequest(OpenAIApi api, const BenchRequest& source, const LoadOptions& options,
                        const RequestVariant& variant, const std::string& model) {
  const llmserve::v1::SamplingParams& s = options.sampling;
  json body;
  body["model"] = model;
  if (api == OpenAIApi::kChat) {
    const std::string text =
        source.token_ids.empty() ? source.text : ChatTextForTokenIds(source.token_ids);
    body["messages"] = json::array({{{"role", "user"}, {"content", text}}});
  } else if (!source.token_ids.empty()) {
    body["prompt"] = source.token_ids;
  } else {
    body["prompt"] = source.text;
  }
  body["max_tokens"] = source.max_tokens;
  body["stream"] = options.stream;
  if (options.stream) body["stream_options"] = {{"include_usage", true}};
  if (s.has_temperature()) body["temperature"] = s.temperature();
  if (s.has_top_p()) body["top_p"] = s.top_p();
  if (s.has_seed()) body["seed"] = s.seed();
  if (s.stop_size() > 0) {
    body["stop"] = json(std::vector<std::string>(s.stop().begin(), s.stop().end()));
  }
  if (s.presence_penalty() != 0) body["presence_penalty"] = s.presence_penalty();
  if (s.frequency_penalty() != 0) body["frequency_penalty"] = s.frequency_penalty();
  if (s.logit_bias_size() > 0 || s.banned_token_ids_size() > 0) {
    json bias = json::object();
    for (const auto& [id, value] : s.logit_bias()) bias[std::to_string(id)] = value;
    for (const uint32_t id : s.banned_token_ids()) bias[std::to_string(id)] = -100;
    body["logit_bias"] = std::move(bias);
  }
  if (s.ignore_eos()) body["ignore_eos"] = true;
  if (s.top_k() > 0) body["top_k"] = s.top_k();
  if (s.min_p() != 0) body["min_p"] = s.min_p();
  if (s.has_repetition_penalty()) body["repetition_penalty"] = s.repetition_penalty();
  if (s.min_tokens() > 0) body["min_tokens"] = s.min_tokens();
  if (s.stop_token_ids_size() > 0) {
    body["stop_token_ids"] =
        std::vector<uint32_t>(s.stop_token_ids().begin(), s.stop_token_ids().end());
  }
  if (options.priority != 0) body["priority"] = options.priority;
  if (variant.n_logprobs) {
    if (s.has_n()) body["n"] = s.n();
    if (s.has_logprobs()) {
      if (api == OpenAIApi::kChat) {
        body["logprobs"] = true;
        body["top_logprobs"] = s.logprobs();
      } else {
        body["logprobs"] = s.logprobs();
      }
    }
    if (s.has_prompt_logprobs()) body["prompt_logprobs"] = s.prompt_logprobs();
  }
  return body;
}

absl::StatusOr<OpenAIChunk> ParseOpenAIChunk(absl::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a JSON object: \"", text.substr(0, 100), "\""));
  }
  OpenAIChunk chunk;
  if (const auto error = j.find("error"); error != j.end() && !error->is_null()) {
    chunk.is_error = true;
    chunk.error_code = grpc::StatusCode::INTERNAL;
    chunk.error_message = error->is_string() ? error->get<std::string>() : error->dump();
    if (error->is_object()) {
      if (const auto m = error->find("message"); m != error->end() && m->is_string()) {
        chunk.error_message = m->get<std::string>();
      }
      if (const auto c = error->find("code"); c != error->end() && c->is_number_integer()) {
        chunk.error_code = CodeForHttpStatus(c->get<int>());
      }
    }
    return chunk;
  }
  if (const auto choices = j.find("choices"); choices != j.end() && !choices->is_null()) {
    if (!choices->is_array()) return absl::InvalidArgumentError("\"choices\" is not an array");
    for (const json& choice : *choices) {
      if (!choice.is_object()) return absl::InvalidArgumentError("a choice is not an object");
      chunk.tokens += ChoiceTokens(choice);
      const auto finish = choice.find("finish_reason");
      if (IntField(choice, "index") == 0 && finish != choice.end() && finish->is_string()) {
        chunk.finish_reason = finish->get<std::string>();
      }
    }
  }
  if (const auto usage = j.find("usage"); usage != j.end() && !usage->is_null()) {
    if (!usage->is_object()) return absl::InvalidArgumentError("\"usage\" is not an object");
    chunk.has_usage = true;
    chunk.prompt_tokens = IntField(*usage, "prompt_tokens");
    chunk.completion_tokens = IntField(*usage, "completion_tokens");
    if (const auto d = usage->find("prompt_tokens_details"); d != usage->end() && d->is_object()) {
      chunk.cached_tokens = IntField(*d, "cached_tokens");
    }
  }
  return chunk;
}

grpc::StatusCode CodeForHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case 401:
      return grpc::StatusCode::UNAUTHENTICATED;
    case 403:
      return grpc::StatusCode::PERMISSION_DENIED;
    case 404:
      return grpc::StatusCode::NOT_FOUND;
    case 409:
      return grpc::StatusCode::ABORTED;
    case 413:
      return grpc::StatusCode::OUT_OF_RANGE;
    case 429:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 499:
      return grpc::StatusCode::CANCELLED;
    case 500:
      return grpc::StatusCode::INTERNAL;
    case 501:
      return grpc::StatusCode::UNIMPLEMENTED;
    case 503:
      return grpc::StatusCode::UNAVAILABLE;
    case 504:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    default:
      break;
  }
  if (http_status >= 200 && http_status < 300) return grpc::StatusCode::OK;
  if (http_status >= 400 && http_status < 500) return grpc::StatusCode::FAILED_PRECONDITION;
  if (http_status >= 500 && http_status < 600) return grpc::StatusCode::INTERNAL;
  return grpc::StatusCode::UNKNOWN;
}

std::string ErrorMessageFromBody(absl::string_view body) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded() && j.is_object()) {
    if (const auto e = j.find("error"); e != j.end()) {
      if (e->is_object()) {
        if (const auto m = e->find("message"); m != e->end() && m->is_string()) return *m;
      } else if (e->is_string()) {
        return *e;
      }
    }
    if (const auto m = j.find("message"); m != j.end() && m->is_string()) return *m;
  }
  return std::string(body.substr(0, 200));
}

}  // namespace llmserve::bench
