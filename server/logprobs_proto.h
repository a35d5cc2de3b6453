#ifndef LLMSERVE_SERVER_LOGPROBS_PROTO_H_
#define LLMSERVE_SERVER_LOGPROBS_PROTO_H_

#include <cstdint>

#include "absl/types/span.h"
#include "engine/sampling/logprobs.h"
#include "engine/tokenizer/tokenizer.h"
#include "llmserve/v1/generation.pb.h"

namespace llmserve::server {

/// Appends `positions` to `out` as API messages, with each token's text piece.
/// Entry i scores a token that follows token `previous_token` (i = 0) or the
/// token of entry i - 1 (entries score consecutive tokens of one sequence), so
/// pieces are Tokenizer::TokenBytes(that previous token, id) — the bytes the
/// token would add to the text at that position.
void AppendLogprobs(absl::Span<const PositionLogprobs> positions, int32_t previous_token,
                    const Tokenizer& tokenizer,
                    google::protobuf::RepeatedPtrField<v1::PositionLogprobs>* out);

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_LOGPROBS_PROTO_H_
