#include "engine/tokenizer/hf_llama_tokenizer.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "engine/tokenizer/byte_piece.h"
#include "engine/tokenizer/hf_tokenizer_json.h"
#include "engine/tokenizer/utf8.h"

namespace llmserve {
namespace {

constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581 "▁"

absl::Status Unsupported(const std::string& name, std::string_view field, std::string_view type) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", std::string(field), " \"",
                                                 std::string(type), "\" is not supported"));
}

// The literal pattern of a Replace component: {"pattern": {"String": s}}.
absl::StatusOr<std::string> ReplacePattern(const nlohmann::json& j, const std::string& where) {
  auto pattern = j.find("pattern");
  if (pattern != j.end() && pattern->is_object()) {
    auto s = pattern->find("String");
    if (s != pattern->end() && s->is_string() && !s->get_ref<const std::string&>().empty()) {
      return s->get<std::string>();
    }
    if (pattern->contains("Regex")) {
      return absl::InvalidArgumentError(where + ": Replace with a Regex pattern is not supported");
    }
  }
  return absl::InvalidArgumentError(where + ": Replace needs pattern {\"String\": non-empty}");
}

}  // namespace

absl::StatusOr<std::unique_ptr<HfLlamaTokenizer>> HfLlamaTokenizer::Load(const std::string& path) {
  absl::StatusOr<nlohmann::json> root = ReadJsonFile(path);
  if (!root.ok()) return root.status();
  return FromTokenizerJson(*root, path);
}

absl::StatusOr<std::unique_ptr<HfLlamaTokenizer>> HfLlamaTokenizer::FromTokenizerJson(
    const nlohmann::json& root, std::string_view name_view) {
  const std::string name(name_view);
  if (!root.is_object()) return absl::InvalidArgumentError(name + ": not a JSON object");
  absl::StatusOr<HfBpeModel> model = ParseHfBpeModel(root, name);
  if (!model.ok()) return model.status();
  auto tok = std::unique_ptr<HfLlamaTokenizer>(new HfLlamaTokenizer(std::move(model->bpe)));
  tok->byte_fallback_ = model->byte_fallback;
  tok->fuse_unk_ = model->fuse_unk;
  tok->ignore_merges_ = model->ignore_merges;
  tok->unk_id_ = model->unk_token.empty() ? -1 : tok->bpe_.Find(model->unk_token);
  for (int b = 0; b < 256; ++b) tok->byte_ids_[b] = tok->bpe_.Find(absl::StrFormat("<0x%02X>", b));

  for (absl::Status s : {tok->ParseNormalizer(root, name), tok->ParsePreTokenizer(root, name),
                         tok->ParseDecoder(root, name)}) {
    if (!s.ok()) return s;
  }
  absl::StatusOr<std::vector<AddedToken>> added = ParseAddedTokens(root, name);
  if (!added.ok()) return added.status();

  // What each id decodes to.
  int32_t size = tok->bpe_.id_limit();
  for (const AddedToken& t : *added) size = std::max(size, t.id + 1);
  tok->token_bytes_.resize(size);
  for (int32_t id = 0; id < tok->bpe_.id_limit(); ++id) {
    const std::string_view piece = tok->bpe_.token(id);
    if (const int byte = ParseBytePiece(piece); byte >= 0 && tok->decoder_byte_fallback_) {
      tok->token_bytes_[id] = std::string(1, static_cast<char>(byte));
      continue;
    }
    std::string text(piece);
    for (const Edit& e : tok->decoder_replacements_) {
      text = absl::StrReplaceAll(text, {{e.pattern, e.content}});
    }
    tok->token_bytes_[id] = std::move(text);
  }
  for (const AddedToken& t : *added) tok->token_bytes_[t.id] = t.special ? "" : t.content;

  auto find = [&](std::string_view content) {
    for (const AddedToken& t : *added) {
      if (t.content == content) return t.id;
    }
    return tok->bpe_.Find(content);
  };
  tok->bos_id_ = find("<s>");
  tok->eos_id_ = find("</s>");
  tok->ParsePostProcessor(root);
  tok->added_ = AddedTokenSplitter(*std::move(added));
  return tok;
}

absl::Status HfLlamaTokenizer::ParseNormalizer(const nlohmann::json& root,
                                               const std::string& name) {
  for (const nlohmann::json* step : JsonComponents(JsonField(root, "normalizer"), "normalizers")) {
    const std::string type = JsonType(*step);
    const std::string where = absl::StrCat(name, " normalizer ", type);
    if (type == "Prepend") {
      absl::StatusOr<std::string> prefix = JsonString(*step, "prepend", "", where);
      if (!prefix.ok()) return prefix.status();
      normalizer_.push_back({true, "", *prefix});
    } else if (type == "Replace") {
      absl::StatusOr<std::string> pattern = ReplacePattern(*step, where);
      if (!pattern.ok()) return pattern.status();
      absl::StatusOr<std::string> content = JsonString(*step, "content", "", where);
      if (!content.ok()) return content.status();
      normalizer_.push_back({false, *pattern, *content});
    } else {
      return Unsupported(name, "normalizer", type);
    }
  }
  return absl::OkStatus();
}

absl::Status HfLlamaTokenizer::ParsePreTokenizer(const nlohmann::json& root,
                                                 const std::string& name) {
  const nlohmann::json& pre = JsonField(root, "pre_tokenizer");
  if (pre.is_null()) return absl::OkStatus();
  const std::string type = JsonType(pre);
  if (type != "Metaspace") return Unsupported(name, "pre_tokenizer", type);
  const std::string where = name + " pre_tokenizer Metaspace";
  absl::StatusOr<std::string> replacement = JsonString(pre, "replacement", kMetaspace, where);
  absl::StatusOr<std::string> scheme = JsonString(pre, "prepend_scheme", "", where);
  absl::StatusOr<bool> add_prefix_space = JsonBool(pre, "add_prefix_space", true, where);
  absl::StatusOr<bool> split = JsonBool(pre, "split", true, where);
  for (const absl::Status& s :
       {replacement.status(), scheme.status(), add_prefix_space.status(), split.status()}) {
    if (!s.ok()) return s;
  }
  if (replacement->empty()) return absl::InvalidArgumentError(where + ": empty replacement");
  metaspace_ = true;
  metaspace_replacement_ = *replacement;
  metaspace_split_ = *split;
  if (scheme->empty()) {  // files from before prepend_scheme existed
    prepend_scheme_ = *add_prefix_space ? PrependScheme::kAlways : PrependScheme::kNever;
  } else if (*scheme == "always") {
    prepend_scheme_ = PrependScheme::kAlways;
  } else if (*scheme == "first") {
    prepend_scheme_ = PrependScheme::kFirst;
  } else if (*scheme == "never") {
    prepend_scheme_ = PrependScheme::kNever;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": prepend_scheme \"", *scheme, "\" is not always/first/never"));
  }
  return absl::OkStatus();
}

absl::Status HfLlamaTokenizer::ParseDecoder(const nlohmann::json& root, const std::string& name) {
  decoder_byte_fallback_ = byte_fallback_;
  for (const nlohmann::json* step : JsonComponents(JsonField(root, "decoder"), "decoders")) {
    const std::string type = JsonType(*step);
    const std::string where = absl::StrCat(name, " decoder ", type);
    if (type == "Replace") {
      absl::StatusOr<std::string> pattern = ReplacePattern(*step, where);
      if (!pattern.ok()) return pattern.status();
      absl::StatusOr<std::string> content = JsonString(*step, "content", "", where);
      if (!content.ok()) return content.status();
      decoder_replacements_.push_back({false, *pattern, *content});
    } else if (type == "ByteFallback") {
      decoder_byte_fallback_ = true;
    } else if (type == "Fuse") {
      // Joining the tokens' strings is what decoding does anyway.
    } else if (type == "Strip") {
      absl::StatusOr<std::string> content = JsonString(*step, "content", " ", where);
      if (!content.ok()) return content.status();
      auto int_field = [&](const char* key) -> int64_t {
        auto it = step->find(key);
        return it != step->end() && it->is_number_integer() ? it->get<int64_t>() : 0;
      };
      const int64_t start = int_field("start");
      if (*content != " " || start < 0 || start > 1 || int_field("stop") != 0) {
        return absl::InvalidArgumentError(
            where + ": only Strip of one leading \" \" (start 1, stop 0) is supported");
      }
      strip_leading_space_ = start == 1;
    } else if (type == "Metaspace") {
      absl::StatusOr<std::string> replacement = JsonString(*step, "replacement", kMetaspace, where);
      absl::StatusOr<std::string> scheme = JsonString(*step, "prepend_scheme", "", where);
      absl::StatusOr<bool> add_prefix_space = JsonBool(*step, "add_prefix_space", true, where);
      for (const absl::Status& s :
           {replacement.status(), scheme.status(), add_prefix_space.status()}) {
        if (!s.ok()) return s;
      }
      if (replacement->empty()) return absl::InvalidArgumentError(where + ": empty replacement");
      decoder_replacements_.push_back({false, *replacement, " "});
      strip_leading_space_ = scheme->empty() ? *add_prefix_space : *scheme != "never";
    } else {
      return Unsupported(name, "decoder", type);
    }
  }
  return absl::OkStatus();
}

void HfLlamaTokenizer::ParsePostProcessor(const nlohmann::json& root) {
  for (const nlohmann::json* p : JsonComponents(JsonField(root, "post_processor"), "processors")) {
    if (JsonType(*p) != "TemplateProcessing") continue;
    const nlohmann::json& single = JsonField(*p, "single");
    if (!single.is_array() || single.empty() || !single[0].is_object()) continue;
    const nlohmann::json& special = JsonField(single[0], "SpecialToken");
    const nlohmann::json& token_name = JsonField(special, "id");
    if (!token_name.is_string()) continue;  // the template starts with the text: no BOS
    const nlohmann::json& ids =
        JsonField(JsonField(JsonField(*p, "special_tokens"), token_name.get<std::string>()), "ids");
    if (ids.is_array() && !ids.empty() && ids[0].is_number_integer() &&
        ids[0].get<int64_t>() >= 0 && ids[0].get<int64_t>() < vocab_size()) {
      bos_id_ = static_cast<int32_t>(ids[0].get<int64_t>());
    }
  }
}

std::vector<std::string> HfLlamaTokenizer::Words(std::string_view segment,
                                                 std::size_t offset) const {
  std::string text(segment);
  for (const Edit& e : normalizer_) {
    if (e.prepend) {
      if (!text.empty()) text.insert(0, e.content);
    } else {
      text = absl::StrReplaceAll(text, {{e.pattern, e.content}});
    }
  }
  if (!metaspace_) return {std::move(text)};
  const std::string& rep = metaspace_replacement_;
  text = absl::StrReplaceAll(text, {{" ", rep}});
  const bool prepend = prepend_scheme_ == PrependScheme::kAlways ||
                       (prepend_scheme_ == PrependScheme::kFirst && offset == 0);
  if (prepend && !text.starts_with(rep)) text.insert(0, rep);
  if (!metaspace_split_) return {std::move(text)};
  // Split before every replacement character (Hugging Face's MergedWithNext).
  std::vector<std::string> words;
  std::size_t start = 0;
  for (std::size_t pos = text.find(rep, 1); pos != std::string::npos;
       pos = text.find(rep, pos + 1)) {
    if (pos > start) words.push_back(text.substr(start, pos - start));
    start = pos;
  }
  if (start < text.size()) words.push_back(text.substr(start));
  return words;
}

absl::Status HfLlamaTokenizer::EncodeWord(std::string_view word, std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    if (const int32_t id = bpe_.Find(word); id >= 0) {
      out->push_back(id);
      return absl::OkStatus();
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(word.size());
  bool last_was_unk = false;
  for (std::string_view rest = word; !rest.empty();) {
    const Utf8Unit u = DecodeUtf8(rest);
    const std::string_view unit = rest.substr(0, u.length);
    rest.remove_prefix(u.length);
    if (u.kind == Utf8Unit::kValid) {
      if (const int32_t id = bpe_.Find(unit); id >= 0) {
        symbols.push_back(id);
        last_was_unk = false;
        continue;
      }
    }
    if (byte_fallback_ && std::all_of(unit.begin(), unit.end(), [this](char c) {
          return byte_ids_[static_cast<uint8_t>(c)] >= 0;
        })) {
      for (char c : unit) symbols.push_back(byte_ids_[static_cast<uint8_t>(c)]);
      last_was_unk = false;
      continue;
    }
    if (unk_id_ < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer.json: \"", SanitizeUtf8(unit),
                       "\" is not in the vocabulary, and there is no byte fallback or unk_token"));
    }
    if (!(fuse_unk_ && last_was_unk)) symbols.push_back(unk_id_);
    last_was_unk = true;
  }
  bpe_.Merge(&symbols);
  out->insert(out->end(), symbols.begin(), symbols.end());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> HfLlamaTokenizer::Encode(std::string_view text,
                                                              bool add_bos) const {
  std::vector<int32_t> ids;
  if (add_bos && bos_id_ >= 0) ids.push_back(bos_id_);
  for (const AddedTokenSplitter::Segment& segment : added_.Split(text)) {
    if (segment.token_id >= 0) {
      ids.push_back(segment.token_id);
      continue;
    }
    for (const std::string& word : Words(segment.text, segment.offset)) {
      if (absl::Status s = EncodeWord(word, &ids); !s.ok()) return s;
    }
  }
  return ids;
}

std::string HfLlamaTokenizer::TokenBytes(int32_t prev_id, int32_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  const std::string& bytes = token_bytes_[id];
  if (strip_leading_space_ && (prev_id == -1 || prev_id == bos_id_) && !bytes.empty() &&
      bytes[0] == ' ') {
    return bytes.substr(1);
  }
  return bytes;
}

}  // namespace llmserve
