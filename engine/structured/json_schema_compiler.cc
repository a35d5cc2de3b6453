#include "engine/structured/json_schema_compiler.h"

#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/structured/json_grammar.h"
#include "engine/structured/number_range.h"
#include "engine/structured/regex_parser.h"
#include "nlohmann/json.hpp"

namespace llmserve::structured {

namespace {

using Json = nlohmann::ordered_json;

const std::set<std::string>& SupportedKeywords() {
  static const std::set<std::string>* const k = new std::set<std::string>{
      "type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf", "$ref",
      "$defs", "definitions", "minItems", "maxItems", "minLength", "maxLength", "pattern", "format",
      "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
      // annotations
      "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly",
      "writeOnly"};
  return *k;
}

// Regexes of the supported string formats (RFC 3339 full-date / full-time /
// date-time, a conservative e-mail address, RFC 4122 UUID). Dates only use
// years 1000-9999 and days every year has (no 02-29).
const char* FormatRegex(const std::string& format) {
  if (format == "date") {
    return "[1-9][0-9]{3}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|"
           "2[0-8]))";
  }
  if (format == "time") return "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
  if (format == "date-time") {
    return "[1-9][0-9]{3}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|"
           "2[0-8]))T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
  }
  if (format == "email") return "[a-zA-Z0-9_+-]+(\\.[a-zA-Z0-9_+-]+)*@[a-zA-Z0-9-]+(\\.[a-zA-Z0-9-]+)*\\.[a-zA-Z]{2,}";
  if (format == "uuid") return "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
  return nullptr;
}

// Removes from every byte set the bytes a JSON string must escape ('"', '\',
// controls), so a regex over the decoded string can be written unescaped.
void StripJsonSpecials(Expr* e) {
  if (e->kind == Expr::Kind::kBytes) {
    e->bytes.reset('"');
    e->bytes.reset('\\');
    for (int c = 0; c < 0x20; ++c) e->bytes.reset(c);
    return;
  }
  for (Expr& c : e->children) StripJsonSpecials(&c);
}

class SchemaCompiler {
 public:
  explicit SchemaCompiler(std::string_view field) : field_(field) {}

  absl::StatusOr<Grammar> Run(std::string_view text) {
    Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return Error("not valid JSON");
    doc_ = &doc;
    const int root = g_.AddRule("root");
    json_ = AddJsonRules(&g_);
    Expr e = Convert(doc, "#");
    if (!status_.ok()) return status_;
    g_.SetBody(root, std::move(e));
    g_.set_root(root);
    return std::move(g_);
  }

 private:
  absl::Status Error(const std::string& what) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(absl::StrCat(field_, ": ", what));
    return status_;
  }
  Expr Fail(const std::string& what) {
    (void)Error(what);
    return Empty();
  }

  Expr Convert(const Json& s, const std::string& path) {
    if (!status_.ok()) return Empty();
    // The conversion recurses per level of subschemas.
    if (depth_ >= kMaxDepth) return Fail(absl::StrCat("schema nested deeper than ", kMaxDepth, " at ", path));
    ++depth_;
    Expr e = ConvertAt(s, path);
    --depth_;
    return e;
  }

  Expr ConvertAt(const Json& s, const std::string& path) {
    if (s.is_boolean()) return s.get<bool>() ? Ref(json_.value) : Bytes(ByteSet());
    if (!s.is_object()) return Fail(absl::StrCat("schema at ", path, " is not an object"));
    for (const auto& [key, value] : s.items()) {
      if (SupportedKeywords().count(key) == 0) return Fail(absl::StrCat("unsupported keyword '", key, "'"));
    }
    if (s.contains("$ref")) return RefTo(s["$ref"], path);
    if (s.contains("const")) return Literal(s["const"].dump());
    if (s.contains("enum")) {
      const Json& e = s["enum"];
      if (!e.is_array() || e.empty()) return Fail(absl::StrCat("'enum' at ", path, " must be a non-empty array"));
      std::vector<Expr> options;
      for (const Json& v : e) options.push_back(Literal(v.dump()));
      return Alt(std::move(options));
    }
    if (s.contains("anyOf")) {
      const Json& a = s["anyOf"];
      if (!a.is_array() || a.empty()) return Fail(absl::StrCat("'anyOf' at ", path, " must be a non-empty array"));
      std::vector<Expr> options;
      for (std::size_t i = 0; i < a.size(); ++i) options.push_back(Convert(a[i], absl::StrCat(path, "/anyOf/", i)));
      return Alt(std::move(options));
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      const Json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const Json& x : t) {
          if (!x.is_string()) return Fail(absl::StrCat("'type' at ", path, " must be a string or a list of strings"));
          types.push_back(x.get<std::string>());
        }
      } else {
        return Fail(absl::StrCat("'type' at ", path, " must be a string or a list of strings"));
      }
    } else if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required")) {
      types.push_back("object");
    } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
      types.push_back("array");
    } else if (s.contains("pattern") || s.contains("format") || s.contains("minLength") || s.contains("maxLength")) {
      types.push_back("string");
    } else {
      return Ref(json_.value);
    }
    std::vector<Expr> options;
    for (const std::string& t : types) options.push_back(ConvertType(s, t, path));
    return Alt(std::move(options));
  }

  Expr ConvertType(const Json& s, const std::string& type, const std::string& path) {
    if (type == "object") return Object(s, path);
    if (type == "array") return Array(s, path);
    if (type == "string") return String(s, path);
    if (type == "integer" || type == "number") return Number(s, type == "integer", path);
    if (type == "boolean") return Ref(json_.boolean);
    if (type == "null") return Ref(json_.null);
    return Fail(absl::StrCat("unsupported type '", type, "' at ", path));
  }

  Expr RefTo(const Json& ref, const std::string& path) {
    if (!ref.is_string()) return Fail(absl::StrCat("'$ref' at ", path, " must be a string"));
    const std::string r = ref.get<std::string>();
    if (auto it = ref_rules_.find(r); it != ref_rules_.end()) return Ref(it->second);
    if (r.empty() || r[0] != '#') return Fail(absl::StrCat("unsupported $ref '", r, "' (only '#...' pointers)"));
    const Json* target = nullptr;
    try {
      target = &doc_->at(Json::json_pointer(r.substr(1)));
    } catch (const std::exception&) {
      return Fail(absl::StrCat("$ref '", r, "' does not resolve"));
    }
    const int rule = g_.AddRule(absl::StrCat("ref ", r));
    ref_rules_[r] = rule;
    g_.SetBody(rule, Convert(*target, r));
    return Ref(rule);
  }

  std::optional<int64_t> Count(const Json& s, const char* key, const std::string& path) {
    if (!s.contains(key)) return std::nullopt;
    const Json& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      (void)Error(absl::StrCat("'", key, "' at ", path, " must be a non-negative integer"));
      return std::nullopt;
    }
    return v.get<int64_t>();
  }

  Expr Object(const Json& s, const std::string& path) {
    std::vector<std::pair<std::string, Expr>> props;  // key, value
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) return Fail(absl::StrCat("'required' at ", path, " must be an array"));
      for (const Json& r : s["required"]) {
        if (!r.is_string()) return Fail(absl::StrCat("'required' at ", path, " must list strings"));
        required.insert(r.get<std::string>());
      }
    }
    const bool has_props = s.contains("properties");
    std::set<std::string> declared;
    if (has_props) {
      if (!s["properties"].is_object()) return Fail(absl::StrCat("'properties' at ", path, " must be an object"));
      for (const auto& [key, sub] : s["properties"].items()) {
        props.emplace_back(key, Convert(sub, absl::StrCat(path, "/properties/", key)));
        declared.insert(key);
      }
    }
    for (const std::string& r : required) {
      if (declared.count(r) == 0) props.emplace_back(r, Ref(json_.value));
    }
    const Json* additional = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
    if (additional != nullptr && !additional->is_boolean() && !additional->is_object()) {
      return Fail(absl::StrCat("'additionalProperties' at ", path, " must be a boolean or a schema"));
    }
    if (props.empty()) {
      if (additional != nullptr && additional->is_boolean() && !additional->get<bool>()) return Literal("{}");
      if (additional == nullptr || additional->is_boolean()) return Ref(json_.object);
      // A map of strings to the additionalProperties schema.
      Expr value = Convert(*additional, path + "/additionalProperties");
      Expr member = Seq({Ref(json_.string), JsonWs(), Literal(":"), JsonWs(), value, JsonWs()});
      return Seq({Literal("{"), JsonWs(), Optional(Seq({member, Repeat(Seq({Literal(","), JsonWs(), member}), 0, -1)})),
                  Literal("}")});
    }
    // rest(i, first): the members i.. in order, required ones present, with
    // commas only between members. Each (i, first) is one rule.
    const int n = static_cast<int>(props.size());
    std::vector<int> rest_first(n + 1), rest_later(n + 1);
    for (int i = 0; i <= n; ++i) {
      rest_first[i] = g_.AddRule(absl::StrCat(path, " members"));
      rest_later[i] = g_.AddRule(absl::StrCat(path, " members"));
    }
    for (int i = n; i >= 0; --i) {
      for (int first = 0; first < 2; ++first) {
        const int rule = first ? rest_first[i] : rest_later[i];
        if (i == n) {
          g_.SetBody(rule, Empty());
          continue;
        }
        Expr member = Seq({first ? Empty() : Seq({Literal(","), JsonWs()}), JsonStringLiteral(props[i].first), JsonWs(),
                           Literal(":"), JsonWs(), props[i].second, JsonWs(), Ref(rest_later[i + 1])});
        if (required.count(props[i].first)) {
          g_.SetBody(rule, std::move(member));
        } else {
          g_.SetBody(rule, Alt({std::move(member), Ref(first ? rest_first[i + 1] : rest_later[i + 1])}));
        }
      }
    }
    return Seq({Literal("{"), JsonWs(), Ref(rest_first[0]), Literal("}")});
  }

  Expr Array(const Json& s, const std::string& path) {
    Expr item = s.contains("items") ? Convert(s["items"], path + "/items") : Ref(json_.value);
    const std::optional<int64_t> min = Count(s, "minItems", path);
    const std::optional<int64_t> max = Count(s, "maxItems", path);
    if (!status_.ok()) return Empty();
    const int64_t lo = min.value_or(0);
    if (max && *max < lo) return Fail(absl::StrCat("'maxItems' < 'minItems' at ", path));
    if (max && *max == 0) return Seq({Literal("["), JsonWs(), Literal("]")});
    const int item_rule = g_.AddRule(path + "/items");
    g_.SetBody(item_rule, Seq({std::move(item), JsonWs()}));
    Expr more = Repeat(Seq({Literal(","), JsonWs(), Ref(item_rule)}), static_cast<int>(std::max<int64_t>(lo - 1, 0)),
                       max ? static_cast<int>(std::min<int64_t>(*max - 1, 1 << 20)) : -1);
    Expr items = Seq({Ref(item_rule), std::move(more)});
    return Seq({Literal("["), JsonWs(), lo == 0 ? Optional(std::move(items)) : std::move(items), Literal("]")});
  }

  Expr String(const Json& s, const std::string& path) {
    const std::optional<int64_t> min = Count(s, "minLength", path);
    const std::optional<int64_t> max = Count(s, "maxLength", path);
    if (!status_.ok()) return Empty();
    const bool lengths = min.has_value() || max.has_value();
    std::optional<std::string> regex;
    if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) return Fail(absl::StrCat("'pattern' at ", path, " must be a string"));
      regex = s["pattern"].get<std::string>();
      // Anchors are implied (a full match).
      if (!regex->empty() && regex->front() == '^') regex->erase(0, 1);
      if (!regex->empty() && regex->back() == '$' && (regex->size() < 2 || (*regex)[regex->size() - 2] != '\\')) {
        regex->pop_back();
      }
    }
    if (s.contains("format")) {
      if (!s["format"].is_string()) return Fail(absl::StrCat("'format' at ", path, " must be a string"));
      const std::string f = s["format"].get<std::string>();
      const char* r = FormatRegex(f);
      if (r == nullptr) return Fail(absl::StrCat("unsupported format '", f, "'"));
      if (regex) return Fail(absl::StrCat("'pattern' with 'format' at ", path, " is not supported"));
      regex = r;
    }
    if (regex) {
      if (lengths) return Fail(absl::StrCat("'minLength'/'maxLength' with 'pattern' or 'format' at ", path,
                                            " is not supported"));
      absl::StatusOr<Expr> e = ParseRegex(*regex, absl::StrCat(field_, ": 'pattern' at ", path));
      if (!e.ok()) {
        status_ = e.status();
        return Empty();
      }
      StripJsonSpecials(&*e);
      return Seq({Literal("\""), *std::move(e), Literal("\"")});
    }
    if (!lengths) return Ref(json_.string);
    const int64_t lo = min.value_or(0);
    if (max && *max < lo) return Fail(absl::StrCat("'maxLength' < 'minLength' at ", path));
    return Seq({Literal("\""),
                Repeat(JsonStringChar(), static_cast<int>(std::min<int64_t>(lo, 1 << 20)),
                       max ? static_cast<int>(std::min<int64_t>(*max, 1 << 20)) : -1),
                Literal("\"")});
  }

  // A bound as an integer: minimum → ceil, maximum → floor, exclusive ones
  // one step inside (integers) — every generated number is in range.
  std::optional<int64_t> Bound(const Json& s, const char* key, bool lower, bool exclusive, const std::string& path) {
    if (!s.contains(key)) return std::nullopt;
    const Json& v = s[key];
    if (!v.is_number()) {
      (void)Error(absl::StrCat("'", key, "' at ", path, " must be a number"));
      return std::nullopt;
    }
    const double d = v.get<double>();
    if (!(std::fabs(d) < 1e18)) {
      (void)Error(absl::StrCat("'", key, "' at ", path, " is out of range"));
      return std::nullopt;
    }
    double b = lower ? std::ceil(d) : std::floor(d);
    if (exclusive && b == d) b += lower ? 1 : -1;
    return static_cast<int64_t>(b);
  }

  Expr Number(const Json& s, bool integer, const std::string& path) {
    std::optional<int64_t> lo = Bound(s, "minimum", true, false, path);
    std::optional<int64_t> hi = Bound(s, "maximum", false, false, path);
    const std::optional<int64_t> xlo = Bound(s, "exclusiveMinimum", true, true, path);
    const std::optional<int64_t> xhi = Bound(s, "exclusiveMaximum", false, true, path);
    if (!status_.ok()) return Empty();
    if (xlo && (!lo || *xlo > *lo)) lo = xlo;
    if (xhi && (!hi || *xhi < *hi)) hi = xhi;
    if (!lo && !hi) return Ref(integer ? json_.integer : json_.number);
    if (lo && hi && *lo > *hi) return Fail(absl::StrCat("no number satisfies the bounds at ", path));
    return integer ? IntegerRange(lo, hi) : NumberRange(lo, hi);
  }

  static constexpr int kMaxDepth = 128;
  int depth_ = 0;
  std::string field_;
  absl::Status status_;
  Grammar g_;
  JsonRules json_;
  const Json* doc_ = nullptr;
  std::map<std::string, int> ref_rules_;
};

}  // namespace

absl::StatusOr<Grammar> JsonSchemaToGrammar(std::string_view schema, std::string_view field) {
  return SchemaCompiler(field).Run(schema);
}

}  // namespace llmserve::structured
