#ifndef LLMSERVE_ENGINE_LOADERS_JSON_DESCRIBE_H_
#define LLMSERVE_ENGINE_LOADERS_JSON_DESCRIBE_H_

#include <string>

#include "nlohmann/json.hpp"

namespace llmserve {

/// A short description of an untrusted JSON value for error messages: scalars
/// verbatim (cut at 64 characters), containers by kind only ("an array",
/// "an object") since dumping them could be huge or deeply recursive.
std::string DescribeJson(const nlohmann::json& value);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_LOADERS_JSON_DESCRIBE_H_
