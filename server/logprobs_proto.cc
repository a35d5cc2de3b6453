#include "server/logprobs_proto.h"

namespace llmserve::server {

void AppendLogprobs(absl::Span<const PositionLogprobs> positions, int32_t previous_token,
                    const Tokenizer& tokenizer,
                    google::protobuf::RepeatedPtrField<v1::PositionLogprobs>* out) {
  int32_t prev = previous_token;
  for (const PositionLogprobs& pos : positions) {
    v1::PositionLogprobs* p = out->Add();
    auto fill = [&](const TokenLogprob& t, v1::TokenLogprob* m) {
      m->set_token_id(static_cast<uint32_t>(t.token_id));
      m->set_piece(tokenizer.TokenBytes(prev, t.token_id));
      m->set_logprob(t.logprob);
    };
    fill(pos.chosen, p->mutable_token());
    p->set_rank(static_cast<uint32_t>(pos.rank));
    for (const TokenLogprob& t : pos.top) fill(t, p->add_top());
    prev = pos.chosen.token_id;
  }
}

}  // namespace llmserve::server
