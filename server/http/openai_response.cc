#include "server/http/openai_response.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace llmserve::server::http {

using nlohmann::json;

json FinishReasonJson(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
    case FinishReason::kEos:
      return "stop";
    case FinishReason::kLength:
      return "length";
    default:
      return nullptr;
  }
}

std::string DumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string SseEvent(const std::string& data) { return absl::StrCat("data: ", data, "\n\n"); }

OpenAIResponseBuilder::OpenAIResponseBuilder(const OpenAIRequest& request,
                                             const Tokenizer* tokenizer, std::string model,
                                             std::string id, int64_t created)
    : endpoint_(request.endpoint),
      stream_(request.stream),
      include_usage_(request.include_usage),
      logprobs_(request.logprobs),
      tokenizer_(tokenizer),
      model_(std::move(model)),
      id_(std::move(id)),
      created_(created),
      choices_(std::max(1, request.engine.sampling.n)) {
  const int32_t last_prompt_token =
      request.engine.prompt_token_ids.empty() ? -1 : request.engine.prompt_token_ids.back();
  for (Choice& c : choices_) {
    c.prev_token = last_prompt_token;
    if (endpoint_ == Endpoint::kCompletions) {
      c.logprobs = {{"tokens", json::array()},
                    {"token_logprobs", json::array()},
                    {"top_logprobs", json::array()},
                    {"text_offset", json::array()}};
    } else {
      c.logprobs = {{"content", json::array()}};
    }
  }
}

json OpenAIResponseBuilder::Logprobs(const RequestOutput& output, Choice* c) const {
  json out;
  if (endpoint_ == Endpoint::kCompletions) {
    out = {{"tokens", json::array()},
           {"token_logprobs", json::array()},
           {"top_logprobs", json::array()},
           {"text_offset", json::array()}};
  } else {
    out = {{"content", json::array()}};
  }
  for (const PositionLogprobs& position : output.logprobs) {
    const int32_t prev = c->prev_token;
    const std::string token = tokenizer_->TokenBytes(prev, position.chosen.token_id);
    if (endpoint_ == Endpoint::kCompletions) {
      json top = json::object();
      for (const TokenLogprob& t : position.top) {
        top[tokenizer_->TokenBytes(prev, t.token_id)] = t.logprob;
      }
      out["tokens"].push_back(token);
      out["token_logprobs"].push_back(position.chosen.logprob);
      out["top_logprobs"].push_back(std::move(top));
      out["text_offset"].push_back(c->text_offset);
      c->text_offset += static_cast<int>(token.size());
    } else {
      auto entry = [](const std::string& text, float logprob) {
        json bytes = json::array();
        for (unsigned char b : text) bytes.push_back(static_cast<int>(b));
        return json{{"token", text}, {"logprob", logprob}, {"bytes", std::move(bytes)}};
      };
      json item = entry(token, position.chosen.logprob);
      json top = json::array();
      for (const TokenLogprob& t : position.top) {
        top.push_back(entry(tokenizer_->TokenBytes(prev, t.token_id), t.logprob));
      }
      item["top_logprobs"] = std::move(top);
      out["content"].push_back(std::move(item));
    }
    c->prev_token = position.chosen.token_id;
  }
  return out;
}

json OpenAIResponseBuilder::Chunk(json choice) const {
  json chunk = {{"id", id_},
                {"object", endpoint_ == Endpoint::kCompletions ? "text_completion"
                                                               : "chat.completion.chunk"},
                {"created", created_},
                {"model", model_},
                {"choices", json::array({std::move(choice)})}};
  if (include_usage_) chunk["usage"] = nullptr;
  return chunk;
}

std::string OpenAIResponseBuilder::Add(const RequestOutput& output) {
  prompt_tokens_ = output.prompt_tokens;
  cached_prompt_tokens_ = output.cached_prompt_tokens;
  if (output.index < 0 || output.index >= static_cast<int>(choices_.size())) return "";
  Choice& c = choices_[output.index];
  // The request's final output counts the tokens of all its completions.
  if (output.finished) {
    total_completion_tokens_ = output.completion_tokens;
  } else {
    c.completion_tokens = std::max(c.completion_tokens, output.completion_tokens);
  }
  if (output.finish_reason != FinishReason::kNone) c.finish_reason = output.finish_reason;
  json logprobs = nullptr;
  if (logprobs_ && !output.logprobs.empty()) logprobs = Logprobs(output, &c);
  if (!stream_) {
    c.text += output.text;
    if (logprobs.is_object()) {
      for (auto& [key, values] : logprobs.items()) {
        for (json& v : values) c.logprobs[key].push_back(std::move(v));
      }
    }
    return "";
  }
  std::string events;
  const json finish = FinishReasonJson(output.finish_reason);
  const bool ends_choice = output.finish_reason != FinishReason::kNone;
  if (endpoint_ == Endpoint::kChatCompletions) {
    if (!c.role_sent) {
      c.role_sent = true;
      events += SseEvent(DumpJson(Chunk({{"index", output.index},
                                         {"delta", {{"role", "assistant"}, {"content", ""}}},
                                         {"logprobs", nullptr},
                                         {"finish_reason", nullptr}})));
    }
    if (!output.text.empty() || logprobs.is_object()) {
      events += SseEvent(DumpJson(Chunk({{"index", output.index},
                                         {"delta", {{"content", output.text}}},
                                         {"logprobs", logprobs},
                                         {"finish_reason", nullptr}})));
    }
    if (ends_choice) {
      events += SseEvent(DumpJson(Chunk({{"index", output.index},
                                         {"delta", json::object()},
                                         {"logprobs", nullptr},
                                         {"finish_reason", finish}})));
    }
  } else if (!output.text.empty() || logprobs.is_object() || ends_choice) {
    events += SseEvent(DumpJson(Chunk({{"index", output.index},
                                       {"text", output.text},
                                       {"logprobs", logprobs},
                                       {"finish_reason", finish}})));
  }
  return events;
}

json OpenAIResponseBuilder::Usage() const {
  int completion_tokens = 0;
  for (const Choice& c : choices_) completion_tokens += c.completion_tokens;
  if (total_completion_tokens_ >= 0) completion_tokens = total_completion_tokens_;
  return {{"prompt_tokens", prompt_tokens_},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens_ + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_prompt_tokens_}}}};
}

std::string OpenAIResponseBuilder::StreamEnd() const {
  std::string events;
  if (include_usage_) {
    json chunk = {{"id", id_},
                  {"object", endpoint_ == Endpoint::kCompletions ? "text_completion"
                                                                 : "chat.completion.chunk"},
                  {"created", created_},
                  {"model", model_},
                  {"choices", json::array()},
                  {"usage", Usage()}};
    events += SseEvent(DumpJson(chunk));
  }
  events += SseEvent("[DONE]");
  return events;
}

json OpenAIResponseBuilder::Response() const {
  json choices = json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    json choice = {{"index", i},
                   {"logprobs", logprobs_ ? c.logprobs : json(nullptr)},
                   {"finish_reason", FinishReasonJson(c.finish_reason)}};
    if (endpoint_ == Endpoint::kCompletions) {
      choice["text"] = c.text;
    } else {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    }
    choices.push_back(std::move(choice));
  }
  return {{"id", id_},
          {"object", endpoint_ == Endpoint::kCompletions ? "text_completion" : "chat.completion"},
          {"created", created_},
          {"model", model_},
          {"choices", std::move(choices)},
          {"usage", Usage()}};
}

}  // namespace llmserve::server::http
