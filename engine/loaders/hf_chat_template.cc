#include "engine/loaders/hf_chat_template.h"

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/mapped_file.h"
#include "engine/common/status_macros.h"
#include "nlohmann/json.hpp"

namespace llmserve {
namespace {

constexpr std::size_t kMaxFileBytes = 16 << 20;

absl::Status FieldError(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": chat_template ", what));
}

// The whole file, or NOT_FOUND if it does not exist.
absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  absl::StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  if ((*file)->size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", (*file)->size(), " bytes is too large (limit ", kMaxFileBytes, ")"));
  }
  const char* data = reinterpret_cast<const char*>((*file)->data());
  return std::string(data, data + (*file)->size());
}

}  // namespace

absl::StatusOr<std::string> ParseHfChatTemplate(const std::string& tokenizer_config_json,
                                                const std::string& path) {
  nlohmann::json json = nlohmann::json::parse(tokenizer_config_json, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  if (!json.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  auto it = json.find("chat_template");
  if (it == json.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) return FieldError(path, "must be a string or a list of {name, template}");
  std::string chosen;
  for (size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& entry = (*it)[i];
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
        !entry.contains("template") || !entry["template"].is_string()) {
      return FieldError(path, absl::StrCat("[", i, "] must be {\"name\": string, \"template\": string}"));
    }
    if (entry["name"].get<std::string>() == "default") chosen = entry["template"].get<std::string>();
  }
  return chosen;
}

absl::StatusOr<std::string> ReadHfChatTemplate(const std::string& model_dir) {
  const std::string jinja_path = absl::StrCat(model_dir, "/chat_template.jinja");
  absl::StatusOr<std::string> jinja = ReadWhole(jinja_path);
  if (jinja.ok()) return jinja;
  if (!absl::IsNotFound(jinja.status())) return jinja.status();
  const std::string config_path = absl::StrCat(model_dir, "/tokenizer_config.json");
  absl::StatusOr<std::string> config = ReadWhole(config_path);
  if (!config.ok()) {
    if (absl::IsNotFound(config.status())) return std::string();
    return config.status();
  }
  return ParseHfChatTemplate(*config, config_path);
}

}  // namespace llmserve
