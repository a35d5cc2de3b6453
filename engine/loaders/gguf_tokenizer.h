#ifndef LLMSERVE_ENGINE_LOADERS_GGUF_TOKENIZER_H_
#define LLMSERVE_ENGINE_LOADERS_GGUF_TOKENIZER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "engine/loaders/gguf.h"
#include "engine/tokenizer/tokenizer.h"

namespace llmserve {

/// The tokenizer stored in a GGUF file's metadata (llama.cpp's `tokenizer.ggml.*`
/// keys, see ggml's docs/gguf.md "Tokenizer"):
///  * `tokenizer.ggml.model` = "llama": SentencePiece BPE from
///    `tokenizer.ggml.tokens` and `tokenizer.ggml.scores`, run by the llama2.c
///    tokenizer (Llama2cTokenizer: dummy-prefix space, score-ordered merges,
///    byte fallback). The pieces are handed over in llama2.c's tokenizer.bin
///    layout ("▁" as ' '), so both sources share one parser and its checks. It
///    needs llama2.c's id layout: <unk> 0, BOS 1, EOS 2 (as
///    `tokenizer.ggml.unknown/bos/eos_token_id` say, if present) and the byte
///    pieces "<0x00>".."<0xFF>" at ids 3..258.
///  * "gpt2": GPT-2 byte-level BPE (Gpt2Tokenizer) from `tokenizer.ggml.tokens`
///    (id = index) and `tokenizer.ggml.merges` ("left right", best first);
///    `tokenizer.ggml.pre`, if present, must be "gpt-2" or "default" (other
///    pre-tokenizers, e.g. Llama 3's, split text differently).
/// `tokenizer.ggml.add_bos_token` = false, if present, makes Encode never
/// prepend BOS. User-defined / control tokens other than these are not split
/// out of text.
/// Errors: INVALID_ARGUMENT naming the file and key for a missing or
/// mistyped key, another tokenizer model, or a vocabulary that breaks the
/// requirements above; the tokenizers' own errors.
absl::StatusOr<std::unique_ptr<Tokenizer>> TokenizerFromGguf(const GgufFile& file);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LOADERS_GGUF_TOKENIZER_H_
