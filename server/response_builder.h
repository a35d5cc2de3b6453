#ifndef LLMSERVE_SERVER_RESPONSE_BUILDER_H_
#define LLMSERVE_SERVER_RESPONSE_BUILDER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "engine/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "llmserve/v1/generation.pb.h"

namespace llmserve::server {

/// Turns one request's engine outputs (RequestOutput, possibly of several
/// completions when SamplingParams::n > 1) into API messages: the unary
/// GenerateResponse, or GenerateStream messages. Logprobs get their text
/// pieces from `tokenizer` (Tokenizer::TokenBytes after the preceding token).
/// Not thread-safe: one per call.
class ResponseBuilder {
 public:
  /// `prompt_token_ids`: the request's prompt (non-empty), for the pieces of
  /// the first completion token and of prompt logprobs.
  ResponseBuilder(const Tokenizer& tokenizer, std::vector<int32_t> prompt_token_ids);

  /// Unary: records an output.
  void Add(const RequestOutput& output);

  /// Unary: fills `response` from everything recorded, `final_output` being
  /// the request's last output (finished, successful). Top-level text,
  /// token_ids, finish_reason and logprobs are completion 0's; `completions`
  /// lists all when there are several; usage from `final_output` (whose
  /// completion_tokens count all completions).
  void FillResponse(const std::string& request_id, const RequestOutput& final_output,
                    v1::GenerateResponse* response);

  /// Stream: the messages for outputs that arrived together (in order): one
  /// message per run of outputs of the same completion. A completion's last
  /// message carries its finish_reason; the request's last message also
  /// usage (all completions) and timing. Messages with nothing to say are
  /// left out. Call with a successful final output only.
  std::vector<v1::GenerateStreamResponse> StreamMessages(const std::string& request_id,
                                                         absl::Span<const RequestOutput> outputs);

 private:
  struct CompletionState {
    v1::Completion proto;
    int32_t last_token = -1;  // for pieces; the prompt's last token at first
  };
  CompletionState& State(int index);
  // Adds the output's text, ids, logprobs (and prompt logprobs) to `completion`/`prompt_logprobs`.
  void Append(const RequestOutput& output, std::string* text,
              google::protobuf::RepeatedField<uint32_t>* token_ids,
              google::protobuf::RepeatedPtrField<v1::PositionLogprobs>* logprobs,
              google::protobuf::RepeatedPtrField<v1::PositionLogprobs>* prompt_logprobs);

  const Tokenizer& tokenizer_;
  const std::vector<int32_t> prompt_;
  std::map<int, CompletionState> completions_;
  google::protobuf::RepeatedPtrField<v1::PositionLogprobs> prompt_logprobs_;
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_RESPONSE_BUILDER_H_
