#include "server/auth.h"

#include <cstdint>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace llmserve::server {
namespace {

constexpr absl::string_view kBearer = "bearer ";

}  // namespace

absl::StatusOr<std::string> ReadAuthTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the auth token file ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  std::string token = contents.str();
  absl::StripAsciiWhitespace(&token);
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the auth token file ", path, " is empty"));
  }
  for (char c : token) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the auth token in ", path, " contains whitespace or control characters"));
    }
  }
  return token;
}

bool ConstantTimeEquals(absl::string_view provided, absl::string_view expected) {
  volatile uint8_t diff = provided.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const uint8_t p = i < provided.size() ? static_cast<uint8_t>(provided[i]) : 0;
    diff = diff | (p ^ static_cast<uint8_t>(expected[i]));
  }
  return diff == 0;
}

absl::Status CheckBearerToken(absl::Span<const absl::string_view> authorization_values,
                              absl::string_view token) {
  bool ok = false;
  for (absl::string_view value : authorization_values) {
    if (value.size() < kBearer.size() ||
        !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
      continue;
    }
    // Every value is compared (no early exit on a match).
    ok |= ConstantTimeEquals(absl::StripLeadingAsciiWhitespace(value.substr(kBearer.size())),
                             token);
  }
  if (ok) return absl::OkStatus();
  if (authorization_values.empty()) {
    return absl::UnauthenticatedError(
        "missing credentials: send the metadata \"authorization: Bearer <token>\"");
  }
  return absl::UnauthenticatedError(
      "invalid credentials: the authorization bearer token is not accepted");
}

}  // namespace llmserve::server
