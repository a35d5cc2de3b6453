#ifndef LLMSERVE_SERVER_REQUEST_CONVERT_H_
#define LLMSERVE_SERVER_REQUEST_CONVERT_H_

#include "absl/status/statusor.h"
#include "engine/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "llmserve/v1/generation.pb.h"

namespace llmserve::server {

/// Converts a GenerateRequest into an EngineRequest: applies the sampling
/// defaults (those of SamplingParams, the one place they live), tokenizes
/// prompt text with `tokenizer` (BOS prepended when the tokenizer has one),
/// and copies prompt token ids as they are. Does not validate values: the
/// caller runs llmserve::ValidateRequest (engine/request_validator.h) on the
/// result. The request_id is the request's own (possibly empty; the caller
/// assigns one).
///
/// Errors: INVALID_ARGUMENT naming the field, for what cannot be converted:
///  - `prompt` when neither text nor token_ids is set;
///  - `prompt.text` that cannot be encoded, or encodes to no tokens;
///  - `sampling_params.structured_output` with none of its oneof set, or
///    json_object set to false.
absl::StatusOr<EngineRequest> ToEngineRequest(const v1::GenerateRequest& request,
                                              const Tokenizer& tokenizer);

/// Converts the proto sampling parameters to the engine's, applying the
/// defaults of SamplingParams to unset fields. Does not validate.
SamplingParams ToSamplingParams(const v1::SamplingParams& params);

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_REQUEST_CONVERT_H_
