#ifndef LLMSERVE_ENGINE_LOADERS_MODEL_LOADER_H_
#define LLMSERVE_ENGINE_LOADERS_MODEL_LOADER_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/models/model_weights.h"

namespace llmserve {

/// Loads model weights from `path`: a Hugging Face model directory
/// (config.json + model.safetensors or a sharded index), a GGUF file
/// (recognized by its "GGUF" magic; LoadGgufModel, the tokenizer dropped) or a
/// llama2.c checkpoint file. Errors: NOT_FOUND if nothing is at `path`, otherwise those
/// of the format's loader (INVALID_ARGUMENT naming the file and the problem).
absl::StatusOr<ModelWeights> LoadModelWeights(const std::string& path);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LOADERS_MODEL_LOADER_H_
