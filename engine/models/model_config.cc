#include "engine/models/model_config.h"

#include "absl/strings/str_cat.h"

namespace llmserve {

absl::Status ModelConfig::Validate() const {
  auto positive = [](const char* field, int v) -> absl::Status {
    if (v <= 0) return absl::InvalidArgumentError(absl::StrCat(field, " must be positive, got ", v));
    return absl::OkStatus();
  };
  for (auto [field, v] : {std::pair<const char*, int>{"hidden_size", hidden_size},
                          {"num_layers", num_layers},
                          {"num_heads", num_heads},
                          {"num_kv_heads", num_kv_heads},
                          {"head_dim", head_dim},
                          {"ffn_size", ffn_size},
                          {"vocab_size", vocab_size},
                          {"max_context", max_context}}) {
    if (auto s = positive(field, v); !s.ok()) return s;
  }
  if (hidden_size % num_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("hidden_size ", hidden_size,
                                                   " is not divisible by num_heads ", num_heads));
  }
  if (head_dim * num_heads != hidden_size) {
    return absl::InvalidArgumentError(absl::StrCat("head_dim ", head_dim, " × num_heads ", num_heads,
                                                   " != hidden_size ", hidden_size));
  }
  if (num_heads % num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_heads ", num_heads,
                                                   " is not divisible by num_kv_heads ", num_kv_heads));
  }
  if (position == PositionKind::kRotary && head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("rotary positions need an even head_dim, got ", head_dim));
  }
  if (!(norm_eps > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("norm_eps must be positive, got ", norm_eps));
  }
  if (position == PositionKind::kRotary && !(rope_theta > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("rope_theta must be positive, got ", rope_theta));
  }
  if (bos_token_id >= vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("bos_token_id ", bos_token_id, " outside vocab_size ", vocab_size));
  }
  for (int id : eos_token_ids) {
    if (id < 0 || id >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("eos_token_id ", id, " outside vocab_size ", vocab_size));
    }
  }
  return absl::OkStatus();
}

}  // namespace llmserve
