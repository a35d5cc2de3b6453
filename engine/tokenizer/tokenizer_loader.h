#ifndef LLMSERVE_ENGINE_TOKENIZER_TOKENIZER_LOADER_H_
#define LLMSERVE_ENGINE_TOKENIZER_TOKENIZER_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace llmserve {

/// Loads the tokenizer for a model.
///
/// If `tokenizer_path` is set it names the tokenizer: a directory (searched
/// as below), `*.bin` (llama2.c tokenizer.bin), `vocab.json` / `encoder.json`
/// (GPT-2, with `merges.txt` / `vocab.bpe` beside it), `merges.txt` /
/// `vocab.bpe` (with the vocabulary beside it), or any other `*.json`
/// (tokenizer.json, see LoadHfTokenizerJson).
/// Otherwise the tokenizer is searched for in `model_path` if it is a
/// directory (Hugging Face layout), or beside it if it is a file (llama2.c
/// checkpoint), in this order: tokenizer.json, vocab.json + merges.txt,
/// encoder.json + vocab.bpe, tokenizer.bin, tok*.bin (first by name).
///
/// `vocab_size` is the model's vocabulary size, or -1 if unknown: a llama2.c
/// tokenizer reads exactly that many tokens (as run.c does); other tokenizers
/// must not have more tokens than the model (fewer is fine: padded embeddings).
/// Errors: NOT_FOUND if a named path does not exist or no tokenizer is found
/// (listing what was looked for and where); INVALID_ARGUMENT for an
/// unrecognized file, a vocabulary larger than the model's, or the loaders'
/// own errors.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_path,
                                                         const std::string& tokenizer_path,
                                                         int32_t vocab_size);

/// Loads a Hugging Face tokenizer.json, choosing the implementation from its
/// components: a ByteLevel pre-tokenizer means GPT-2 byte-level BPE
/// (Gpt2Tokenizer); `byte_fallback`, a Metaspace pre-tokenizer or a
/// Prepend/Replace normalizer mean a Llama-family SentencePiece conversion
/// (HfLlamaTokenizer). Errors: NOT_FOUND; INVALID_ARGUMENT for JSON that is
/// neither, naming the file.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizerJson(const std::string& path);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_TOKENIZER_TOKENIZER_LOADER_H_
