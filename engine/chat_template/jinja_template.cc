#include "engine/chat_template/jinja_template.h"

#include "engine/chat_template/parser.h"
#include "engine/common/status_macros.h"

namespace llmserve::chat_template {

absl::StatusOr<std::unique_ptr<JinjaTemplate>> JinjaTemplate::Parse(std::string_view source) {
  LLMSERVE_ASSIGN_OR_RETURN(NodeList nodes, ParseTemplate(source));
  LLMSERVE_RETURN_IF_ERROR(CheckNames(nodes));
  return std::unique_ptr<JinjaTemplate>(new JinjaTemplate(std::move(nodes)));
}

absl::StatusOr<std::string> JinjaTemplate::Render(const Dict& variables, std::time_t now,
                                                  const RenderLimits& limits) const {
  Dict globals = StandardGlobals(now);
  for (const auto& [k, v] : variables.items) globals.Set(k, v);
  return RenderNodes(nodes_, globals, limits);
}

Value ValueFromJson(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::None();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::Bool(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::Int(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = json.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::Int(static_cast<int64_t>(u));
      return Value::Float(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::Float(json.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::String(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      for (const auto& item : json) items.push_back(ValueFromJson(item));
      return Value::MakeList(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      for (const auto& [k, v] : json.items()) d.Set(k, ValueFromJson(v));
      return Value::MakeDict(std::move(d));
    }
    default:
      return Value::None();
  }
}

}  // namespace llmserve::chat_template
