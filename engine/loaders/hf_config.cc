#include "engine/loaders/hf_config.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "engine/loaders/hf_chat_template.h"
#include "engine/loaders/json_describe.h"
#include "engine/common/mapped_file.h"
#include "nlohmann/json.hpp"

namespace llmserve {
namespace {

using Json = nlohmann::json;

constexpr int64_t kMaxDim = int64_t{1} << 20;        // hidden, ffn, head counts
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxPositions = int64_t{1} << 24;
constexpr std::size_t kMaxConfigBytes = 16 << 20;


// Typed access to the fields of one JSON object, with messages naming the file.
class Fields {
 public:
  Fields(const Json& object, std::string file) : object_(object), file_(std::move(file)) {}

  const std::string& file() const { return file_; }

  // The value of `key`, or nullptr if absent or null (transformers writes null
  // for "use the default").
  const Json* Find(const std::string& key) const {
    const auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  // True if `key` is present with the value null.
  bool IsNull(const std::string& key) const {
    const auto it = object_.find(key);
    return it != object_.end() && it->is_null();
  }

  absl::Status Error(const std::string& key, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": field '", key, "' ", what));
  }

  absl::StatusOr<int64_t> Int(const std::string& key, std::optional<int64_t> fallback,
                              int64_t lo, int64_t hi) const {
    const Json* v = Find(key);
    if (v == nullptr) {
      if (fallback.has_value()) return *fallback;
      return Error(key, "is missing");
    }
    if (!v->is_number_integer()) return Error(key, absl::StrCat("must be an integer, got ", DescribeJson(*v)));
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
      return Error(key, absl::StrCat("= ", DescribeJson(*v), " is out of range [", lo, ", ", hi, "]"));
    }
    const int64_t x = v->get<int64_t>();
    if (x < lo || x > hi) {
      return Error(key, absl::StrCat("= ", x, " is out of range [", lo, ", ", hi, "]"));
    }
    return x;
  }

  absl::StatusOr<float> PositiveFloat(const std::string& key, float fallback) const {
    const Json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_number()) return Error(key, absl::StrCat("must be a number, got ", DescribeJson(*v)));
    const double d = v->get<double>();
    const float f = static_cast<float>(d);
    if (!(d > 0.0) || !std::isfinite(f) || f == 0.0f) {
      return Error(key, absl::StrCat("= ", DescribeJson(*v), " must be positive and finite"));
    }
    return f;
  }

  absl::StatusOr<std::string> String(const std::string& key, std::string fallback) const {
    const Json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_string()) return Error(key, absl::StrCat("must be a string, got ", DescribeJson(*v)));
    return v->get<std::string>();
  }

  absl::StatusOr<bool> Bool(const std::string& key, bool fallback) const {
    const Json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) return Error(key, absl::StrCat("must be true or false, got ", DescribeJson(*v)));
    return v->get<bool>();
  }

  // A token id list: an int, a list of ints, or absent/null (→ nullopt).
  absl::StatusOr<std::optional<std::vector<int>>> TokenIds(const std::string& key,
                                                            int vocab_size) const {
    const Json* v = Find(key);
    if (v == nullptr) return std::optional<std::vector<int>>();
    std::vector<const Json*> items;
    if (v->is_array()) {
      for (const Json& item : *v) items.push_back(&item);
    } else {
      items.push_back(v);
    }
    std::vector<int> ids;
    for (const Json* item : items) {
      if (!item->is_number_integer()) {
        return Error(key, absl::StrCat("must be an integer or a list of integers, got ",
                                       DescribeJson(*item)));
      }
      if (item->is_number_unsigned() ? item->get<uint64_t>() >= static_cast<uint64_t>(vocab_size)
                                     : item->get<int64_t>() < 0) {
        return Error(key, absl::StrCat("has token id ", DescribeJson(*item), " outside [0, vocab_size ",
                                       vocab_size, ")"));
      }
      ids.push_back(static_cast<int>(item->get<int64_t>()));
    }
    return std::optional<std::vector<int>>(std::move(ids));
  }

 private:
  const Json& object_;
  std::string file_;
};

absl::StatusOr<Json> ParseObject(const std::string& text, const std::string& file) {
  Json json;
  try {
    json = Json::parse(text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not valid JSON: ", e.what()));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not a JSON object"));
  }
  return json;
}

absl::Status Unsupported(const Fields& f, const std::string& key, const std::string& what) {
  return f.Error(key, absl::StrCat(what, ", which llmserve does not support"));
}

absl::Status FillLlama(const Fields& f, ModelConfig& c) {
  LLMSERVE_ASSIGN_OR_RETURN(c.hidden_size, f.Int("hidden_size", std::nullopt, 1, kMaxDim));
  LLMSERVE_ASSIGN_OR_RETURN(c.ffn_size, f.Int("intermediate_size", std::nullopt, 1, kMaxDim));
  LLMSERVE_ASSIGN_OR_RETURN(c.num_layers, f.Int("num_hidden_layers", std::nullopt, 1, kMaxLayers));
  LLMSERVE_ASSIGN_OR_RETURN(c.num_heads, f.Int("num_attention_heads", std::nullopt, 1, kMaxDim));
  LLMSERVE_ASSIGN_OR_RETURN(c.num_kv_heads, f.Int("num_key_value_heads", c.num_heads, 1, kMaxDim));
  LLMSERVE_ASSIGN_OR_RETURN(c.vocab_size, f.Int("vocab_size", std::nullopt, 1, kMaxVocab));
  LLMSERVE_ASSIGN_OR_RETURN(c.max_context,
                               f.Int("max_position_embeddings", std::nullopt, 1, kMaxPositions));
  const int64_t derived_head_dim = c.hidden_size / c.num_heads;
  LLMSERVE_ASSIGN_OR_RETURN(c.head_dim, f.Int("head_dim", derived_head_dim, 1, kMaxDim));
  if (c.head_dim * c.num_heads != c.hidden_size) {
    return Unsupported(f, "head_dim",
                       absl::StrCat("= ", c.head_dim, " with num_attention_heads ", c.num_heads,
                                    " does not give hidden_size ", c.hidden_size));
  }
  if (c.num_kv_heads > c.num_heads || c.num_heads % c.num_kv_heads != 0) {
    return f.Error("num_key_value_heads",
                   absl::StrCat("= ", c.num_kv_heads, " does not divide num_attention_heads ",
                                c.num_heads));
  }
  if (const Json* window = f.Find("sliding_window"); window != nullptr) {
    int64_t w = 0;
    LLMSERVE_ASSIGN_OR_RETURN(w, f.Int("sliding_window", std::nullopt, 1, kMaxPositions));
    if (w < c.max_context) c.max_context = static_cast<int>(w);
  }
  LLMSERVE_ASSIGN_OR_RETURN(c.norm_eps, f.PositiveFloat("rms_norm_eps", 1e-6f));
  LLMSERVE_ASSIGN_OR_RETURN(c.rope_theta, f.PositiveFloat("rope_theta", 10000.0f));
  std::string act;
  LLMSERVE_ASSIGN_OR_RETURN(act, f.String("hidden_act", "silu"));
  if (act != "silu" && act != "swish") {
    return Unsupported(f, "hidden_act", absl::StrCat("is '", act, "' (expected 'silu')"));
  }
  bool flag = false;
  LLMSERVE_ASSIGN_OR_RETURN(flag, f.Bool("attention_bias", false));
  if (flag) return Unsupported(f, "attention_bias", "is true");
  LLMSERVE_ASSIGN_OR_RETURN(flag, f.Bool("mlp_bias", false));
  if (flag) return Unsupported(f, "mlp_bias", "is true");
  if (f.Find("rope_scaling") != nullptr) {
    return Unsupported(f, "rope_scaling", "is set (RoPE scaling)");
  }
  LLMSERVE_ASSIGN_OR_RETURN(c.tied_lm_head, f.Bool("tie_word_embeddings", false));
  c.architecture = "llama";
  c.norm = NormKind::kRMSNorm;
  c.position = PositionKind::kRotary;
  c.rope_style = RopeStyle::kHalf;
  c.mlp = MlpKind::kSwiGLU;
  c.linear_bias = false;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return absl::OkStatus();
}

absl::Status FillGpt2(const Fields& f, ModelConfig& c) {
  LLMSERVE_ASSIGN_OR_RETURN(c.hidden_size, f.Int("n_embd", std::nullopt, 1, kMaxDim));
  LLMSERVE_ASSIGN_OR_RETURN(c.num_layers, f.Int("n_layer", std::nullopt, 1, kMaxLayers));
  LLMSERVE_ASSIGN_OR_RETURN(c.num_heads, f.Int("n_head", std::nullopt, 1, kMaxDim));
  LLMSERVE_ASSIGN_OR_RETURN(c.max_context, f.Int("n_positions", std::nullopt, 1, kMaxPositions));
  LLMSERVE_ASSIGN_OR_RETURN(c.vocab_size, f.Int("vocab_size", std::nullopt, 1, kMaxVocab));
  LLMSERVE_ASSIGN_OR_RETURN(c.ffn_size, f.Int("n_inner", 4 * int64_t{c.hidden_size}, 1, 4 * kMaxDim));
  if (c.hidden_size % c.num_heads != 0) {
    return f.Error("n_head", absl::StrCat("= ", c.num_heads, " does not divide n_embd ",
                                          c.hidden_size));
  }
  c.num_kv_heads = c.num_heads;
  c.head_dim = c.hidden_size / c.num_heads;
  LLMSERVE_ASSIGN_OR_RETURN(c.norm_eps, f.PositiveFloat("layer_norm_epsilon", 1e-5f));
  std::string act;
  LLMSERVE_ASSIGN_OR_RETURN(act, f.String("activation_function", "gelu_new"));
  if (act != "gelu_new" && act != "gelu_pytorch_tanh") {
    return Unsupported(f, "activation_function",
                       absl::StrCat("is '", act, "' (expected 'gelu_new' or 'gelu_pytorch_tanh')"));
  }
  bool flag = false;
  LLMSERVE_ASSIGN_OR_RETURN(flag, f.Bool("scale_attn_weights", true));
  if (!flag) return Unsupported(f, "scale_attn_weights", "is false");
  LLMSERVE_ASSIGN_OR_RETURN(flag, f.Bool("scale_attn_by_inverse_layer_idx", false));
  if (flag) return Unsupported(f, "scale_attn_by_inverse_layer_idx", "is true");
  LLMSERVE_ASSIGN_OR_RETURN(flag, f.Bool("add_cross_attention", false));
  if (flag) return Unsupported(f, "add_cross_attention", "is true");
  LLMSERVE_ASSIGN_OR_RETURN(c.tied_lm_head, f.Bool("tie_word_embeddings", true));
  c.architecture = "gpt2";
  c.norm = NormKind::kLayerNorm;
  c.position = PositionKind::kLearned;
  c.mlp = MlpKind::kGelu;
  c.linear_bias = true;
  c.bos_token_id = 50256;
  c.eos_token_ids = {50256};
  return absl::OkStatus();
}

// bos/eos from `f`, each overriding the current value when present. An
// explicit null means "no such token" when `null_means_none` (config.json: the
// value reaches the transformers config constructor as None) and "keep the
// current value" otherwise (generation_config.json).
absl::Status ApplySpecialTokens(const Fields& f, bool null_means_none, ModelConfig& c) {
  if (null_means_none) {
    if (f.IsNull("bos_token_id")) c.bos_token_id = -1;
    if (f.IsNull("eos_token_id")) c.eos_token_ids.clear();
  }
  std::optional<std::vector<int>> ids;
  LLMSERVE_ASSIGN_OR_RETURN(ids, f.TokenIds("bos_token_id", c.vocab_size));
  if (ids.has_value()) {
    if (ids->size() != 1 || f.Find("bos_token_id")->is_array()) {
      return f.Error("bos_token_id", "must be a single integer");
    }
    c.bos_token_id = ids->front();
  }
  LLMSERVE_ASSIGN_OR_RETURN(ids, f.TokenIds("eos_token_id", c.vocab_size));
  if (ids.has_value()) c.eos_token_ids = *std::move(ids);
  return absl::OkStatus();
}

std::string ModelName(const std::string& model_dir) {
  std::filesystem::path p(model_dir);
  if (!p.has_filename()) p = p.parent_path();
  std::string name = p.filename().string();
  return name.empty() ? model_dir : name;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  absl::StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  if ((*file)->size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", (*file)->size(),
                                                   " bytes is too large for a config file"));
  }
  const char* data = reinterpret_cast<const char*>((*file)->data());
  return std::string(data, data + (*file)->size());
}

}  // namespace

absl::StatusOr<HfConfig> ParseHfConfig(const std::string& model_dir,
                                       const std::string& config_json,
                                       const std::string& generation_config_json) {
  const std::string config_path = absl::StrCat(model_dir, "/config.json");
  Json json;
  LLMSERVE_ASSIGN_OR_RETURN(json, ParseObject(config_json, config_path));
  const Fields f(json, config_path);

  HfConfig out;
  LLMSERVE_ASSIGN_OR_RETURN(out.model_type, f.String("model_type", ""));
  if (out.model_type.empty()) {
    const Json* archs = f.Find("architectures");
    if (archs == nullptr || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
      return f.Error("model_type", "is missing and there is no 'architectures' list to infer it");
    }
    const std::string arch = (*archs)[0].get<std::string>();
    if (arch == "LlamaForCausalLM") {
      out.model_type = "llama";
    } else if (arch == "MistralForCausalLM") {
      out.model_type = "mistral";
    } else if (arch == "GPT2LMHeadModel") {
      out.model_type = "gpt2";
    } else {
      return Unsupported(f, "architectures", absl::StrCat("starts with '", arch, "'"));
    }
  }
  ModelConfig& c = out.config;
  if (out.model_type == "llama" || out.model_type == "mistral") {
    out.family = HfFamily::kLlama;
    if (absl::Status s = FillLlama(f, c); !s.ok()) return s;
  } else if (out.model_type == "gpt2") {
    out.family = HfFamily::kGpt2;
    if (absl::Status s = FillGpt2(f, c); !s.ok()) return s;
  } else {
    return Unsupported(f, "model_type",
                       absl::StrCat("is '", out.model_type, "' (expected llama, mistral or gpt2)"));
  }
  c.name = ModelName(model_dir);

  if (absl::Status s = ApplySpecialTokens(f, /*null_means_none=*/true, c); !s.ok()) return s;
  if (!generation_config_json.empty()) {
    const std::string gen_path = absl::StrCat(model_dir, "/generation_config.json");
    Json gen;
    LLMSERVE_ASSIGN_OR_RETURN(gen, ParseObject(generation_config_json, gen_path));
    if (absl::Status s = ApplySpecialTokens(Fields(gen, gen_path), /*null_means_none=*/false, c); !s.ok()) return s;
  }
  if (absl::Status s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", s.message()));
  }
  return out;
}

absl::StatusOr<HfConfig> ReadHfConfig(const std::string& model_dir) {
  std::string config;
  LLMSERVE_ASSIGN_OR_RETURN(config, ReadSmallFile(absl::StrCat(model_dir, "/config.json")));
  std::string generation;
  const std::string gen_path = absl::StrCat(model_dir, "/generation_config.json");
  absl::StatusOr<std::string> gen = ReadSmallFile(gen_path);
  if (gen.ok()) {
    generation = *std::move(gen);
    if (generation.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(gen_path, ": empty file"));
    }
  } else if (!absl::IsNotFound(gen.status())) {
    return gen.status();
  }
  HfConfig out;
  LLMSERVE_ASSIGN_OR_RETURN(out, ParseHfConfig(model_dir, config, generation));
  LLMSERVE_ASSIGN_OR_RETURN(out.config.chat_template, ReadHfChatTemplate(model_dir));
  return out;
}


}  // namespace llmserve
