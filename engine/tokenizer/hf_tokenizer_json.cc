#include "engine/tokenizer/hf_tokenizer_json.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/mapped_file.h"

namespace llmserve {
namespace {

absl::Status Invalid(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(where), ": ", std::string(what)));
}

}  // namespace

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  absl::StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  return std::string(reinterpret_cast<const char*>((*file)->data()), (*file)->size());
}

absl::StatusOr<nlohmann::json> ParseJsonText(std::string_view text, std::string_view name) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return Invalid(name, absl::StrCat("not valid JSON: ", e.what()));
  }
}

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  return ParseJsonText(*text, path);
}

absl::StatusOr<std::vector<std::pair<std::string, int32_t>>> ParseVocabObject(
    const nlohmann::json& vocab, std::string_view name) {
  if (!vocab.is_object()) return Invalid(name, "vocabulary is not a JSON object {token: id}");
  std::vector<std::pair<std::string, int32_t>> out;
  out.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > RankedBpe::kMaxId) {
      return Invalid(name, absl::StrCat("vocabulary entry \"", token, "\": id ", id.dump(),
                                        " is not an integer in 0..", RankedBpe::kMaxId));
    }
    out.emplace_back(token, static_cast<int32_t>(id.get<int64_t>()));
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseMergesArray(
    const nlohmann::json& merges, std::string_view name) {
  if (!merges.is_array()) return Invalid(name, "model.merges is not an array");
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const nlohmann::json& m = merges[i];
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const std::size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return Invalid(name, absl::StrCat("model.merges[", i, "] \"", s,
                                          "\" is not two tokens separated by one space"));
      }
      out.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return Invalid(name,
                     absl::StrCat("model.merges[", i, "] is neither \"a b\" nor [\"a\", \"b\"]"));
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseMergesText(
    std::string_view text, std::string_view name) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_no == 1 && line.starts_with("#version")) continue;
    if (line.empty() && text.empty()) break;  // final newline
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos) {
      return Invalid(name, absl::StrCat("line ", line_no, " \"", std::string(line),
                                        "\" is not two tokens separated by one space"));
    }
    out.emplace_back(std::string(line.substr(0, space)), std::string(line.substr(space + 1)));
  }
  return out;
}

absl::StatusOr<bool> JsonBool(const nlohmann::json& j, const char* key, bool fallback,
                              std::string_view where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return Invalid(where, absl::StrCat(key, " is not a boolean"));
  return it->get<bool>();
}

absl::StatusOr<std::string> JsonString(const nlohmann::json& j, const char* key,
                                       std::string_view fallback, std::string_view where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string(fallback);
  if (!it->is_string()) return Invalid(where, absl::StrCat(key, " is not a string"));
  return it->get<std::string>();
}

std::string JsonType(const nlohmann::json& j) {
  if (!j.is_object()) return "";
  auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

const nlohmann::json& JsonField(const nlohmann::json& j, const std::string& key) {
  static const nlohmann::json* const null = new nlohmann::json();
  if (!j.is_object()) return *null;
  auto it = j.find(key);
  return it == j.end() ? *null : *it;
}

std::vector<const nlohmann::json*> JsonComponents(const nlohmann::json& j, const char* list_key) {
  std::vector<const nlohmann::json*> out;
  if (JsonType(j) == "Sequence") {
    const nlohmann::json& list = JsonField(j, list_key);
    if (list.is_array()) {
      for (const nlohmann::json& item : list) out.push_back(&item);
    }
  } else if (!j.is_null()) {
    out.push_back(&j);
  }
  return out;
}

absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const nlohmann::json& root,
                                                         std::string_view name) {
  std::vector<AddedToken> out;
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return out;
  if (!it->is_array()) return Invalid(name, "added_tokens is not an array");
  for (std::size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& t = (*it)[i];
    const std::string where = absl::StrCat(std::string(name), ": added_tokens[", i, "]");
    if (!t.is_object()) return Invalid(where, "is not an object");
    AddedToken token;
    auto id = t.find("id");
    if (id == t.end() || !id->is_number_integer() || id->get<int64_t>() < 0 ||
        id->get<int64_t>() > RankedBpe::kMaxId) {
      return Invalid(where, absl::StrCat("id is not an integer in 0..", RankedBpe::kMaxId));
    }
    token.id = static_cast<int32_t>(id->get<int64_t>());
    auto content = t.find("content");
    if (content == t.end() || !content->is_string() ||
        content->get_ref<const std::string&>().empty()) {
      return Invalid(where, "content is not a non-empty string");
    }
    token.content = content->get<std::string>();
    for (auto [key, field] :
         {std::pair{"special", &token.special}, std::pair{"lstrip", &token.lstrip},
          std::pair{"rstrip", &token.rstrip}}) {
      absl::StatusOr<bool> v = JsonBool(t, key, false, where);
      if (!v.ok()) return v.status();
      *field = *v;
    }
    out.push_back(std::move(token));
  }
  return out;
}

absl::StatusOr<HfBpeModel> ParseHfBpeModel(const nlohmann::json& root, std::string_view name_view) {
  const std::string name(name_view);
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) return Invalid(name, "no \"model\" object");
  const nlohmann::json& model = *model_it;
  // Files written by old versions of `tokenizers` omit model.type for BPE.
  if (const std::string type = JsonType(model); !type.empty() && type != "BPE") {
    return Invalid(name, absl::StrCat("model.type is \"", type, "\", only \"BPE\" is supported"));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (auto it = model.find(key);
        it != model.end() && !it->is_null() &&
        !(it->is_string() && it->get_ref<const std::string&>().empty())) {
      return Invalid(name, absl::StrCat("model.", key, " is not supported"));
    }
  }
  if (auto it = model.find("dropout");
      it != model.end() && !it->is_null() && !(it->is_number() && it->get<double>() == 0.0)) {
    return Invalid(name, "model.dropout is not supported (inference needs deterministic BPE)");
  }
  auto vocab_it = model.find("vocab");
  auto merges_it = model.find("merges");
  if (vocab_it == model.end()) return Invalid(name, "model.vocab is missing");
  auto vocab = ParseVocabObject(*vocab_it, name + " model.vocab");
  if (!vocab.ok()) return vocab.status();
  std::vector<std::pair<std::string, std::string>> merges;
  if (merges_it != model.end() && !merges_it->is_null()) {
    auto parsed = ParseMergesArray(*merges_it, name);
    if (!parsed.ok()) return parsed.status();
    merges = *std::move(parsed);
  }
  absl::StatusOr<RankedBpe> bpe = RankedBpe::Build(*vocab, merges, name);
  if (!bpe.ok()) return bpe.status();
  const std::string where = name + " model";
  absl::StatusOr<std::string> unk = JsonString(model, "unk_token", "", where);
  absl::StatusOr<bool> byte_fallback = JsonBool(model, "byte_fallback", false, where);
  absl::StatusOr<bool> fuse_unk = JsonBool(model, "fuse_unk", false, where);
  absl::StatusOr<bool> ignore_merges = JsonBool(model, "ignore_merges", false, where);
  for (const absl::Status& s :
       {unk.status(), byte_fallback.status(), fuse_unk.status(), ignore_merges.status()}) {
    if (!s.ok()) return s;
  }
  if (!unk->empty() && bpe->Find(*unk) < 0) {
    return Invalid(name, absl::StrCat("model.unk_token \"", *unk, "\" is not in model.vocab"));
  }
  return HfBpeModel{*std::move(bpe), *std::move(unk), *byte_fallback, *fuse_unk, *ignore_merges};
}

}  // namespace llmserve
