#ifndef LLMSERVE_ENGINE_LOADERS_HF_CHAT_TEMPLATE_H_
#define LLMSERVE_ENGINE_LOADERS_HF_CHAT_TEMPLATE_H_

#include <string>

#include "absl/status/statusor.h"

namespace llmserve {

/// The chat template in the text of a Hugging Face `tokenizer_config.json`
/// (`path` names the file in messages): its `chat_template` field, either a
/// string or the list form [{"name": ..., "template": ...}, ...] of
/// transformers' multi-template tokenizers, from which the one named
/// "default" is taken. Empty if the field is absent or null, or the list has
/// no "default". Errors: INVALID_ARGUMENT naming the file and the field (not
/// JSON, not an object, a chat_template of another type, a list entry that is
/// not {name: string, template: string}).
absl::StatusOr<std::string> ParseHfChatTemplate(const std::string& tokenizer_config_json,
                                                const std::string& path);

/// The chat template of the checkpoint directory `model_dir`: the file
/// `chat_template.jinja` if present (transformers ≥ 4.43 saves it there),
/// else ParseHfChatTemplate of `tokenizer_config.json` if present, else empty.
/// Errors: those of ParseHfChatTemplate; an unreadable or oversized
/// (> 16 MiB) file, naming it.
absl::StatusOr<std::string> ReadHfChatTemplate(const std::string& model_dir);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LOADERS_HF_CHAT_TEMPLATE_H_
