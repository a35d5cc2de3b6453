#include "engine/loaders/json_describe.h"

namespace llmserve {

std::string DescribeJson(const nlohmann::json& value) {
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  std::string s = value.dump();
  if (s.size() > 64) s = s.substr(0, 64) + "...";
  return s;
}

}  // namespace llmserve
