#ifndef LLMSERVE_CLIENT_GENERATION_FLAGS_H_
#define LLMSERVE_CLIENT_GENERATION_FLAGS_H_

// The generation-option flags shared by llmserve-client (`generate`) and
// llmserve-bench: one definition each, so both programs spell, document and
// parse them alike. They map one to one onto llmserve.v1.SamplingParams
// fields (proto/llmserve/v1/generation.proto):
//   --stop S,...               stop            --min-p P            min_p
//   --repetition-penalty R     repetition_penalty
//   --presence-penalty A       presence_penalty
//   --frequency-penalty F      frequency_penalty
//   --logit-bias ID:BIAS,...   logit_bias      --banned-token-ids   banned_token_ids
//   --stop-token-ids ID,...    stop_token_ids  --min-tokens K       min_tokens
//   --logprobs K               logprobs        --prompt-logprobs K  prompt_logprobs
//   --n N                      n
// and structured output (at most one; sampling_params.structured_output):
//   --json-schema FILE         json_schema (the file's text)
//   --json-object              json_object  --regex R            regex
//   --choice a,b,...           choice       --grammar FILE       grammar (GBNF)
// Unset flags leave their field unset (the server's default applies).

#include "absl/status/status.h"
#include "llmserve/v1/generation.pb.h"

namespace llmserve::client {

/// Sets the fields of `params` named by the flags above. Values are not
/// range-checked here (the server's validator refuses bad ones with
/// INVALID_ARGUMENT naming the field); negative counts are sent as huge
/// unsigned values so that it does. Returns INVALID_ARGUMENT naming the flag
/// for text that does not parse: a token id that is not a non-negative
/// 32-bit integer, a --logit-bias item that is not TOKEN_ID:BIAS, a
/// --json-schema / --grammar file that cannot be read, or more than one
/// structured-output flag.
absl::Status ApplyGenerationFlags(v1::SamplingParams* params);

}  // namespace llmserve::client

#endif  // LLMSERVE_CLIENT_GENERATION_FLAGS_H_
