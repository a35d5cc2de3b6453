#ifndef LLMSERVE_SERVER_HTTP_JSON_FIELDS_H_
#define LLMSERVE_SERVER_HTTP_JSON_FIELDS_H_

// Field access for OpenAI request bodies (nlohmann::json), shared by the
// request and structured-output converters: OpenAI treats an absent field and
// a null one alike, and a field of the wrong JSON type is a 400 naming it.

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace llmserve::server::http {

/// INVALID_ARGUMENT "<field> must be <expected>, got <JSON type>", e.g.
/// "temperature must be a number, got string".
inline absl::Status TypeError(absl::string_view field, const char* expected, const nlohmann::json& value) {
  return absl::InvalidArgumentError(absl::StrCat(field, " must be ", expected, ", got ", value.type_name()));
}

/// The member `key` of `object`, or null if it is absent or JSON null.
inline const nlohmann::json* Member(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace llmserve::server::http

#endif  // LLMSERVE_SERVER_HTTP_JSON_FIELDS_H_
