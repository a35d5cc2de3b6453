#include "server/http/openai_structured_output.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/sampling/sampling_params.h"
#include "server/http/json_fields.h"

namespace llmserve::server::http {
namespace {

using nlohmann::json;
using Kind = StructuredOutputParams::Kind;

/// Collects the constraints of a request; a second one is an error naming both.
class Collector {
 public:
  /// `schema_object`: the constraint is a JSON Schema given as an object at
  /// this JSON pointer into the body (its text is re-read in key order).
  absl::Status Add(std::string field, StructuredOutputParams params,
                   std::string schema_object = "") {
    if (!result_.field.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": conflicts with ", result_.field,
                       ": give one structured-output constraint per request"));
    }
    result_.field = std::move(field);
    result_.params = std::move(params);
    schema_object_ = std::move(schema_object);
    return absl::OkStatus();
  }
  const std::string& schema_object() const { return schema_object_; }
  HttpStructuredOutput Take() { return std::move(result_); }

 private:
  HttpStructuredOutput result_;
  std::string schema_object_;
};

/// The text of the value at `pointer` ("/guided_json", ...) in `raw_body`,
/// with its objects' keys in the order written. Only the body's top-level
/// member on the pointer's path is kept while parsing. Empty if not found.
std::string OrderedText(absl::string_view raw_body, const std::string& pointer) {
  using ordered_json = nlohmann::ordered_json;
  // The first reference token (the pointers here have no escapes).
  const std::string top = pointer.substr(1, pointer.find('/', 1) - 1);
  const ordered_json ordered = ordered_json::parse(
      raw_body.begin(), raw_body.end(),
      [&top](int depth, ordered_json::parse_event_t event, ordered_json& parsed) {
        return !(depth == 1 && event == ordered_json::parse_event_t::key && parsed != top);
      },
      /*allow_exceptions=*/false);
  const ordered_json::json_pointer path(pointer);
  if (ordered.is_discarded() || !ordered.contains(path)) return "";
  return ordered.at(path).dump();
}

StructuredOutputParams Params(Kind kind, std::string text = "") {
  StructuredOutputParams p;
  p.kind = kind;
  p.text = std::move(text);
  return p;
}

/// A JSON Schema given as an object (or, for vLLM's fields, also as its text).
absl::StatusOr<StructuredOutputParams> Schema(const json& value, const std::string& field,
                                              bool allow_text) {
  if (value.is_object()) return Params(Kind::kJsonSchema, value.dump());  // re-read in order later
  if (allow_text && value.is_string()) return Params(Kind::kJsonSchema, value.get<std::string>());
  return TypeError(field, allow_text ? "a JSON Schema object or string" : "a JSON Schema object",
                   value);
}

absl::StatusOr<StructuredOutputParams> Text(const json& value, const std::string& field,
                                            Kind kind) {
  if (!value.is_string()) return TypeError(field, "a string", value);
  return Params(kind, value.get<std::string>());
}

absl::StatusOr<StructuredOutputParams> Choice(const json& value, const std::string& field) {
  if (!value.is_array()) return TypeError(field, "an array of strings", value);
  StructuredOutputParams p = Params(Kind::kChoice);
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) return TypeError(absl::StrCat(field, "[", i, "]"), "a string", value[i]);
    p.choices.push_back(value[i].get<std::string>());
  }
  return p;
}

/// OpenAI's response_format.
absl::Status ResponseFormat(const json& body, Collector* out) {
  const json* format = Member(body, "response_format");
  if (format == nullptr) return absl::OkStatus();
  if (!format->is_object()) return TypeError("response_format", "an object", *format);
  const json* type = Member(*format, "type");
  if (type == nullptr) return absl::InvalidArgumentError("response_format.type is required");
  if (!type->is_string()) return TypeError("response_format.type", "a string", *type);
  const std::string& t = type->get_ref<const std::string&>();
  if (t == "text") return absl::OkStatus();
  if (t == "json_object") return out->Add("response_format", Params(Kind::kJsonObject));
  if (t != "json_schema") {
    return absl::InvalidArgumentError(absl::StrCat(
        "response_format.type must be one of text, json_object, json_schema, got ", type->dump()));
  }
  const json* js = Member(*format, "json_schema");
  if (js == nullptr) {
    return absl::InvalidArgumentError(
        "response_format.json_schema is required with type json_schema");
  }
  if (!js->is_object()) return TypeError("response_format.json_schema", "an object", *js);
  const json* name = Member(*js, "name");
  if (name == nullptr) return absl::InvalidArgumentError("response_format.json_schema.name is required");
  if (!name->is_string()) return TypeError("response_format.json_schema.name", "a string", *name);
  if (const json* d = Member(*js, "description"); d != nullptr && !d->is_string()) {
    return TypeError("response_format.json_schema.description", "a string", *d);
  }
  if (const json* strict = Member(*js, "strict"); strict != nullptr && !strict->is_boolean()) {
    return TypeError("response_format.json_schema.strict", "a boolean", *strict);
  }
  const json* schema = Member(*js, "schema");
  if (schema == nullptr) {
    return absl::InvalidArgumentError("response_format.json_schema.schema is required");
  }
  absl::StatusOr<StructuredOutputParams> p =
      Schema(*schema, "response_format.json_schema.schema", /*allow_text=*/false);
  if (!p.ok()) return p.status();
  return out->Add("response_format.json_schema.schema", *std::move(p),
                  "/response_format/json_schema/schema");
}

/// vLLM's guided_* fields (removed in vLLM 0.12 in favour of structured_outputs).
absl::Status GuidedFields(const json& body, Collector* out) {
  if (const json* v = Member(body, "guided_json"); v != nullptr) {
    absl::StatusOr<StructuredOutputParams> p = Schema(*v, "guided_json", /*allow_text=*/true);
    if (!p.ok()) return p.status();
    if (absl::Status s = out->Add("guided_json", *std::move(p), v->is_object() ? "/guided_json" : "");
        !s.ok()) {
      return s;
    }
  }
  if (const json* v = Member(body, "guided_regex"); v != nullptr) {
    absl::StatusOr<StructuredOutputParams> p = Text(*v, "guided_regex", Kind::kRegex);
    if (!p.ok()) return p.status();
    if (absl::Status s = out->Add("guided_regex", *std::move(p)); !s.ok()) return s;
  }
  if (const json* v = Member(body, "guided_choice"); v != nullptr) {
    absl::StatusOr<StructuredOutputParams> p = Choice(*v, "guided_choice");
    if (!p.ok()) return p.status();
    if (absl::Status s = out->Add("guided_choice", *std::move(p)); !s.ok()) return s;
  }
  if (const json* v = Member(body, "guided_grammar"); v != nullptr) {
    absl::StatusOr<StructuredOutputParams> p = Text(*v, "guided_grammar", Kind::kGrammar);
    if (!p.ok()) return p.status();
    if (absl::Status s = out->Add("guided_grammar", *std::move(p)); !s.ok()) return s;
  }
  if (Member(body, "guided_whitespace_pattern") != nullptr) {
    return absl::InvalidArgumentError("guided_whitespace_pattern is not supported");
  }
  return absl::OkStatus();
}

/// vLLM's structured_outputs object.
absl::Status StructuredOutputs(const json& body, Collector* out) {
  const json* so = Member(body, "structured_outputs");
  if (so == nullptr) return absl::OkStatus();
  if (!so->is_object()) return TypeError("structured_outputs", "an object", *so);
  bool any = false;
  if (const json* v = Member(*so, "json"); v != nullptr) {
    absl::StatusOr<StructuredOutputParams> p =
        Schema(*v, "structured_outputs.json", /*allow_text=*/true);
    if (!p.ok()) return p.status();
    if (absl::Status s = out->Add("structured_outputs.json", *std::move(p),
                                  v->is_object() ? "/structured_outputs/json" : "");
        !s.ok()) {
      return s;
    }
    any = true;
  }
  if (const json* v = Member(*so, "regex"); v != nullptr) {
    absl::StatusOr<StructuredOutputParams> p = Text(*v, "structured_outputs.regex", Kind::kRegex);
    if (!p.ok()) return p.status();
    if (absl::Status s = out->Add("structured_outputs.regex", *std::move(p)); !s.ok()) return s;
    any = true;
  }
  if (const json* v = Member(*so, "choice"); v != nullptr) {
    absl::StatusOr<StructuredOutputParams> p = Choice(*v, "structured_outputs.choice");
    if (!p.ok()) return p.status();
    if (absl::Status s = out->Add("structured_outputs.choice", *std::move(p)); !s.ok()) return s;
    any = true;
  }
  if (const json* v = Member(*so, "grammar"); v != nullptr) {
    absl::StatusOr<StructuredOutputParams> p =
        Text(*v, "structured_outputs.grammar", Kind::kGrammar);
    if (!p.ok()) return p.status();
    if (absl::Status s = out->Add("structured_outputs.grammar", *std::move(p)); !s.ok()) return s;
    any = true;
  }
  if (const json* v = Member(*so, "json_object"); v != nullptr) {
    if (!v->is_boolean()) return TypeError("structured_outputs.json_object", "a boolean", *v);
    if (!v->get<bool>()) {
      return absl::InvalidArgumentError("structured_outputs.json_object must be true when set");
    }
    if (absl::Status s = out->Add("structured_outputs.json_object", Params(Kind::kJsonObject));
        !s.ok()) {
      return s;
    }
    any = true;
  }
  for (const char* unsupported : {"structural_tag", "whitespace_pattern"}) {
    if (Member(*so, unsupported) != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("structured_outputs.", unsupported, " is not supported"));
    }
  }
  if (!any) {
    return absl::InvalidArgumentError(
        "structured_outputs: one of json, regex, choice, grammar or json_object must be set");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HttpStructuredOutput> ParseStructuredOutput(const json& body,
                                                           absl::string_view raw_body) {
  Collector collector;
  if (absl::Status s = ResponseFormat(body, &collector); !s.ok()) return s;
  if (absl::Status s = GuidedFields(body, &collector); !s.ok()) return s;
  if (absl::Status s = StructuredOutputs(body, &collector); !s.ok()) return s;
  const std::string pointer = collector.schema_object();
  HttpStructuredOutput out = collector.Take();
  // A schema over the engine's limit is refused by the validator: not re-read.
  if (!pointer.empty() && !raw_body.empty() &&
      out.params->text.size() <= static_cast<std::size_t>(SamplingParams::kMaxStructuredOutputBytes)) {
    if (std::string ordered = OrderedText(raw_body, pointer); !ordered.empty()) {
      out.params->text = std::move(ordered);
    }
  }
  return out;
}

absl::Status RenameStructuredOutputField(const absl::Status& status, absl::string_view field) {
  if (status.ok() || field.empty()) return status;
  absl::string_view message = status.message();
  constexpr absl::string_view kPrefix = "sampling_params.structured_output";
  if (!absl::StartsWith(message, kPrefix)) return status;
  message.remove_prefix(kPrefix.size());
  // The gRPC oneof member after the prefix is what `field` names.
  for (absl::string_view member :
       {".json_schema", ".json_object", ".regex", ".choice.choices", ".choice", ".grammar"}) {
    if (absl::StartsWith(message, member)) {
      message.remove_prefix(member.size());
      break;
    }
  }
  return absl::Status(status.code(), absl::StrCat(field, message));
}

}  // namespace llmserve::server::http
