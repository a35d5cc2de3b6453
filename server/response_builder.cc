#include "server/response_builder.h"

#include <utility>

#include "server/logprobs_proto.h"
#include "server/proto_convert.h"

namespace llmserve::server {

ResponseBuilder::ResponseBuilder(const Tokenizer& tokenizer, std::vector<int32_t> prompt_token_ids)
    : tokenizer_(tokenizer), prompt_(std::move(prompt_token_ids)) {}

ResponseBuilder::CompletionState& ResponseBuilder::State(int index) {
  auto [it, inserted] = completions_.try_emplace(index);
  if (inserted) {
    it->second.proto.set_index(static_cast<uint32_t>(index));
    it->second.last_token = prompt_.empty() ? -1 : prompt_.back();
  }
  return it->second;
}

void ResponseBuilder::Append(const RequestOutput& output, std::string* text,
                             google::protobuf::RepeatedField<uint32_t>* token_ids,
                             google::protobuf::RepeatedPtrField<v1::PositionLogprobs>* logprobs,
                             google::protobuf::RepeatedPtrField<v1::PositionLogprobs>* prompt) {
  CompletionState& state = State(output.index);
  if (!output.prompt_logprobs.empty() && prompt != nullptr && !prompt_.empty()) {
    AppendLogprobs(output.prompt_logprobs, prompt_.front(), tokenizer_, prompt);
  }
  text->append(output.text);
  for (int32_t id : output.token_ids) token_ids->Add(static_cast<uint32_t>(id));
  if (!output.logprobs.empty()) {
    AppendLogprobs(output.logprobs, state.last_token, tokenizer_, logprobs);
  }
  if (!output.token_ids.empty()) state.last_token = output.token_ids.back();
  if (output.finish_reason != FinishReason::kNone) {
    state.proto.set_finish_reason(ToProto(output.finish_reason));
  }
}

void ResponseBuilder::Add(const RequestOutput& output) {
  CompletionState& state = State(output.index);
  Append(output, state.proto.mutable_text(), state.proto.mutable_token_ids(),
         state.proto.mutable_logprobs(), &prompt_logprobs_);
}

void ResponseBuilder::FillResponse(const std::string& request_id, const RequestOutput& final_output,
                                   v1::GenerateResponse* response) {
  response->set_request_id(request_id);
  const v1::Completion& first = State(0).proto;
  response->set_text(first.text());
  *response->mutable_token_ids() = first.token_ids();
  response->set_finish_reason(first.finish_reason());
  *response->mutable_logprobs() = first.logprobs();
  *response->mutable_prompt_logprobs() = prompt_logprobs_;
  if (completions_.size() > 1) {
    for (const auto& [index, state] : completions_) *response->add_completions() = state.proto;
  }
  FillUsage(final_output, response->mutable_usage());  // counts every completion's tokens
  FillTiming(final_output.timing, response->mutable_timing());
}

std::vector<v1::GenerateStreamResponse> ResponseBuilder::StreamMessages(
    const std::string& request_id, absl::Span<const RequestOutput> outputs) {
  std::vector<v1::GenerateStreamResponse> messages;
  bool open = false;  // the last message may take more outputs of its completion
  for (const RequestOutput& output : outputs) {
    if (!open || messages.back().index() != static_cast<uint32_t>(output.index)) {
      messages.emplace_back();
      messages.back().set_request_id(request_id);
      messages.back().set_index(static_cast<uint32_t>(output.index));
    }
    v1::GenerateStreamResponse& m = messages.back();
    Append(output, m.mutable_text(), m.mutable_token_ids(), m.mutable_logprobs(),
           m.mutable_prompt_logprobs());
    open = true;
    if (output.finish_reason != FinishReason::kNone) {
      m.set_finish_reason(ToProto(output.finish_reason));
      open = false;  // a completion's final message
    }
    if (output.finished) {
      FillUsage(output, m.mutable_usage());  // counts every completion's tokens
      FillTiming(output.timing, m.mutable_timing());
    }
  }
  std::erase_if(messages, [](const v1::GenerateStreamResponse& m) {
    return m.text().empty() && m.token_ids().empty() && m.prompt_logprobs().empty() &&
           m.finish_reason() == v1::FINISH_REASON_UNSPECIFIED;
  });
  return messages;
}

}  // namespace llmserve::server
