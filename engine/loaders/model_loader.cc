#include "engine/loaders/model_loader.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "engine/loaders/gguf.h"
#include "engine/loaders/gguf_model.h"
#include "engine/loaders/hf_checkpoint.h"
#include "engine/loaders/llama2c_checkpoint.h"

namespace llmserve {

absl::StatusOr<ModelWeights> LoadModelWeights(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such model file or directory"));
  }
  if (std::filesystem::is_directory(status)) {
    return LoadHfCheckpoint(path);
  }
  if (GgufFile::HasMagic(path)) {
    auto model = LoadGgufModel(path);
    if (!model.ok()) return model.status();
    return std::move(model->weights);
  }
  return LoadLlama2cCheckpoint(path);
}

}  // namespace llmserve
