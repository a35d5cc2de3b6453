#include "server/http/openai_request.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/http/json_fields.h"
#include "server/http/openai_structured_output.h"

namespace llmserve::server::http {
namespace {

using nlohmann::json;

absl::Status GetInt(const json& body, const char* key, int64_t min, int64_t max, int64_t* out,
                    bool* present = nullptr) {
  const json* v = Member(body, key);
  if (present != nullptr) *present = v != nullptr;
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_number_integer()) return TypeError(key, "an integer", *v);
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) {
      return absl::InvalidArgumentError(absl::StrCat(key, " must be <= ", max, ", got ", u));
    }
    *out = static_cast<int64_t>(u);
    return absl::OkStatus();
  }
  const int64_t i = v->get<int64_t>();
  if (i < min || i > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, " must be in [", min, ", ", max, "], got ", i));
  }
  *out = i;
  return absl::OkStatus();
}

absl::Status GetInt32(const json& body, const char* key, int* out, bool* present = nullptr) {
  int64_t v = *out;
  if (absl::Status s = GetInt(body, key, std::numeric_limits<int32_t>::min(),
                              std::numeric_limits<int32_t>::max(), &v, present);
      !s.ok()) {
    return s;
  }
  *out = static_cast<int>(v);
  return absl::OkStatus();
}

absl::Status GetFloat(const json& body, const char* key, float* out) {
  const json* v = Member(body, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_number()) return TypeError(key, "a number", *v);
  *out = v->get<float>();
  return absl::OkStatus();
}

absl::Status GetBool(const json& body, const char* key, bool* out) {
  const json* v = Member(body, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_boolean()) return TypeError(key, "a boolean", *v);
  *out = v->get<bool>();
  return absl::OkStatus();
}

/// A JSON array of token ids (range checks are the validator's).
absl::Status TokenIds(const json& array, const std::string& field, std::vector<int32_t>* out) {
  out->clear();
  for (size_t i = 0; i < array.size(); ++i) {
    const json& id = array[i];
    if (!id.is_number_integer()) {
      return TypeError(absl::StrCat(field, "[", i, "]"), "an integer token id", id);
    }
    const int64_t v = id.is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(
                                                    id.get<uint64_t>(), INT32_MAX + 1ULL))
                                              : id.get<int64_t>();
    // Out-of-range ids become -1 so that the validator rejects them naming the field.
    out->push_back(v < 0 || v > std::numeric_limits<int32_t>::max() ? -1
                                                                     : static_cast<int32_t>(v));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> Encode(const Tokenizer& tokenizer, std::string_view text,
                                            bool add_bos, const char* field) {
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(text, add_bos);
  if (!ids.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " cannot be tokenized: ", ids.status().message()));
  }
  if (ids->empty()) return absl::InvalidArgumentError(absl::StrCat(field, " encodes to no tokens"));
  return ids;
}

absl::StatusOr<std::vector<int32_t>> CompletionPrompt(const json& body,
                                                      const PromptContext& context) {
  const json* prompt = Member(body, "prompt");
  if (prompt == nullptr) return absl::InvalidArgumentError("prompt is required");
  const json* single = prompt;
  if (prompt->is_array() && !prompt->empty() && !(*prompt)[0].is_number()) {
    if (prompt->size() > 1) {
      return absl::InvalidArgumentError(
          "prompt: a batch of several prompts is not supported; send one request per prompt");
    }
    single = &(*prompt)[0];
  }
  if (single->is_string()) {
    return Encode(*context.tokenizer, single->get_ref<const std::string&>(), /*add_bos=*/true,
                  "prompt");
  }
  if (single->is_array()) {
    std::vector<int32_t> ids;
    if (absl::Status s = TokenIds(*single, "prompt", &ids); !s.ok()) return s;
    if (ids.empty()) return absl::InvalidArgumentError("prompt is empty");
    return ids;
  }
  return TypeError("prompt", "a string or an array of token ids", *single);
}

absl::StatusOr<std::vector<ChatMessage>> Messages(const json& body) {
  const json* messages = Member(body, "messages");
  if (messages == nullptr) return absl::InvalidArgumentError("messages is required");
  if (!messages->is_array()) return TypeError("messages", "an array", *messages);
  if (messages->empty()) return absl::InvalidArgumentError("messages is empty");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) return TypeError(field, "an object", m);
    ChatMessage message;
    const json* role = Member(m, "role");
    if (role == nullptr || !role->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".role must be a string"));
    }
    message.role = role->get<std::string>();
    const json* content = Member(m, "content");
    if (content == nullptr) {
      // An assistant message with tool calls only: empty content.
    } else if (content->is_string()) {
      message.content = content->get<std::string>();
    } else if (content->is_array()) {
      for (size_t j = 0; j < content->size(); ++j) {
        const json& part = (*content)[j];
        const json* type = part.is_object() ? Member(part, "type") : nullptr;
        const json* text = part.is_object() ? Member(part, "text") : nullptr;
        if (type == nullptr || *type != "text" || text == nullptr || !text->is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(
              field, ".content[", j, "]: only {\"type\": \"text\", \"text\": ...} parts are supported"));
        }
        message.content += text->get<std::string>();
      }
    } else {
      return TypeError(absl::StrCat(field, ".content"), "a string or an array of parts", *content);
    }
    out.push_back(std::move(message));
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> ChatPrompt(const json& body, const PromptContext& context) {
  absl::StatusOr<std::vector<ChatMessage>> messages = Messages(body);
  if (!messages.ok()) return messages.status();
  if (context.chat_template == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("messages: ", context.chat_template_error));
  }
  bool add_generation_prompt = true;
  if (absl::Status s = GetBool(body, "add_generation_prompt", &add_generation_prompt); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> text = context.chat_template->Render(
      *messages, add_generation_prompt, context.bos_token, context.eos_token);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("messages: the chat template failed: ", text.status().message()));
  }
  std::string_view rendered = *text;
  const bool starts_with_bos =
      !context.bos_token.empty() && absl::StartsWith(absl::string_view(rendered.data(), rendered.size()), context.bos_token);
  if (starts_with_bos) rendered.remove_prefix(context.bos_token.size());
  return Encode(*context.tokenizer, std::string_view(rendered.data(), rendered.size()), starts_with_bos, "messages");
}

absl::Status Stop(const json& body, std::vector<std::string>* out) {
  const json* stop = Member(body, "stop");
  if (stop == nullptr) return absl::OkStatus();
  if (stop->is_string()) {
    out->push_back(stop->get<std::string>());
    return absl::OkStatus();
  }
  if (!stop->is_array()) return TypeError("stop", "a string or an array of strings", *stop);
  for (size_t i = 0; i < stop->size(); ++i) {
    if (!(*stop)[i].is_string()) {
      return TypeError(absl::StrCat("stop[", i, "]"), "a string", (*stop)[i]);
    }
    out->push_back((*stop)[i].get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status LogitBias(const json& body, std::vector<std::pair<int32_t, float>>* out) {
  const json* bias = Member(body, "logit_bias");
  if (bias == nullptr) return absl::OkStatus();
  if (!bias->is_object()) return TypeError("logit_bias", "an object", *bias);
  for (const auto& [key, value] : bias->items()) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(key, &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias: key \"", key, "\" is not a token id"));
    }
    if (!value.is_number()) return TypeError(absl::StrCat("logit_bias[", key, "]"), "a number", value);
    out->emplace_back(id, value.get<float>());
  }
  std::sort(out->begin(), out->end());
  return absl::OkStatus();
}

/// Sampling fields shared by both endpoints (OpenAI's, then vLLM's).
absl::Status Sampling(const json& body, SamplingParams* p) {
  if (absl::Status s = GetFloat(body, "temperature", &p->temperature); !s.ok()) return s;
  if (absl::Status s = GetFloat(body, "top_p", &p->top_p); !s.ok()) return s;
  if (absl::Status s = GetInt32(body, "n", &p->n); !s.ok()) return s;
  if (absl::Status s = Stop(body, &p->stop); !s.ok()) return s;
  bool has_seed = false;
  int64_t seed = 0;
  if (absl::Status s = GetInt(body, "seed", std::numeric_limits<int64_t>::min(),
                              std::numeric_limits<int64_t>::max(), &seed, &has_seed);
      !s.ok()) {
    return s;
  }
  if (has_seed) p->seed = static_cast<uint64_t>(seed);
  if (absl::Status s = GetFloat(body, "presence_penalty", &p->presence_penalty); !s.ok()) return s;
  if (absl::Status s = GetFloat(body, "frequency_penalty", &p->frequency_penalty); !s.ok()) {
    return s;
  }
  if (absl::Status s = LogitBias(body, &p->logit_bias); !s.ok()) return s;
  // vLLM's extensions. top_k -1 (vLLM's "disabled") is 0 here.
  int top_k = p->top_k;
  if (absl::Status s = GetInt32(body, "top_k", &top_k); !s.ok()) return s;
  p->top_k = top_k == -1 ? 0 : top_k;
  if (absl::Status s = GetFloat(body, "min_p", &p->min_p); !s.ok()) return s;
  if (absl::Status s = GetFloat(body, "repetition_penalty", &p->repetition_penalty); !s.ok()) {
    return s;
  }
  if (absl::Status s = GetInt32(body, "min_tokens", &p->min_tokens); !s.ok()) return s;
  if (absl::Status s = GetBool(body, "ignore_eos", &p->ignore_eos); !s.ok()) return s;
  if (const json* ids = Member(body, "stop_token_ids"); ids != nullptr) {
    if (!ids->is_array()) return TypeError("stop_token_ids", "an array of token ids", *ids);
    if (absl::Status s = TokenIds(*ids, "stop_token_ids", &p->stop_token_ids); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OpenAIRequest> ParseOpenAIRequest(const json& body, Endpoint endpoint,
                                                 const PromptContext& context,
                                                 absl::string_view raw_body) {
  if (!body.is_object()) return TypeError("the request body", "a JSON object", body);
  OpenAIRequest out;
  out.endpoint = endpoint;
  if (const json* model = Member(body, "model"); model != nullptr) {
    if (!model->is_string()) return TypeError("model", "a string", *model);
    out.model = model->get<std::string>();
  }
  SamplingParams& p = out.engine.sampling;
  if (absl::Status s = Sampling(body, &p); !s.ok()) return s;
  absl::StatusOr<HttpStructuredOutput> structured = ParseStructuredOutput(body, raw_body);
  if (!structured.ok()) return structured.status();
  p.structured_output = std::move(structured->params);
  out.structured_output_field = std::move(structured->field);
  if (absl::Status s = GetBool(body, "stream", &out.stream); !s.ok()) return s;
  if (const json* options = Member(body, "stream_options"); options != nullptr) {
    if (!options->is_object()) return TypeError("stream_options", "an object", *options);
    if (absl::Status s = GetBool(*options, "include_usage", &out.include_usage); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("stream_options.", s.message()));
    }
  }
  if (absl::Status s = GetInt32(body, "priority", &out.engine.priority); !s.ok()) return s;

  bool has_max_tokens = false;
  int max_tokens = p.max_tokens;
  if (absl::Status s = GetInt32(body, "max_tokens", &max_tokens, &has_max_tokens); !s.ok()) {
    return s;
  }
  bool has_max_completion_tokens = false;
  if (absl::Status s = GetInt32(body, "max_completion_tokens", &max_tokens,
                                &has_max_completion_tokens);
      !s.ok()) {
    return s;
  }

  absl::StatusOr<std::vector<int32_t>> prompt;
  if (endpoint == Endpoint::kCompletions) {
    bool echo = false;
    if (absl::Status s = GetBool(body, "echo", &echo); !s.ok()) return s;
    if (echo) return absl::InvalidArgumentError("echo is not supported");
    bool has_logprobs = false;
    int logprobs = 0;
    if (absl::Status s = GetInt32(body, "logprobs", &logprobs, &has_logprobs); !s.ok()) return s;
    if (has_logprobs) {
      out.logprobs = true;
      p.logprobs = logprobs;
    }
    prompt = CompletionPrompt(body, context);
  } else {
    if (absl::Status s = GetBool(body, "logprobs", &out.logprobs); !s.ok()) return s;
    bool has_top_logprobs = false;
    int top_logprobs = 0;
    if (absl::Status s = GetInt32(body, "top_logprobs", &top_logprobs, &has_top_logprobs);
        !s.ok()) {
      return s;
    }
    if (has_top_logprobs && !out.logprobs) {
      return absl::InvalidArgumentError("top_logprobs needs logprobs: true");
    }
    if (out.logprobs) p.logprobs = top_logprobs;
    prompt = ChatPrompt(body, context);
  }
  if (!prompt.ok()) return prompt.status();
  out.engine.prompt_token_ids = *std::move(prompt);

  if (has_max_tokens || has_max_completion_tokens) {
    p.max_tokens = max_tokens;
  } else if (endpoint == Endpoint::kChatCompletions && context.max_context > 0) {
    // OpenAI's chat default: as long as the context allows.
    p.max_tokens = std::max(
        1, context.max_context - static_cast<int>(out.engine.prompt_token_ids.size()));
  }
  return out;
}

}  // namespace llmserve::server::http
