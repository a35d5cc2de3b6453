#include "engine/common/openmp_wait.h"

#include <omp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace llmserve {
namespace {

// This Abseil build has its own string_view type.
absl::string_view Absl(std::string_view v) { return absl::string_view(v.data(), v.size()); }

std::optional<std::string_view> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string_view(v);
}

}  // namespace

std::optional<int64_t> ParseGompSpinCount(std::string_view text) {
  // libgomp/env.c parse_spincount: blanks around, "infinite"/"infinity", or
  // digits with an optional k/M/G/T suffix (case-insensitive).
  const absl::string_view value = absl::StripAsciiWhitespace(Absl(text));
  if (value.empty()) return std::nullopt;
  if (absl::EqualsIgnoreCase(value, "infinite") || absl::EqualsIgnoreCase(value, "infinity")) {
    return std::numeric_limits<int64_t>::max();
  }
  size_t digits = 0;
  while (digits < value.size() && absl::ascii_isdigit(static_cast<unsigned char>(value[digits]))) {
    ++digits;
  }
  uint64_t count = 0;
  if (digits == 0 || !absl::SimpleAtoi(value.substr(0, digits), &count)) return std::nullopt;
  const absl::string_view suffix = absl::StripAsciiWhitespace(value.substr(digits));
  uint64_t mult = 1;
  if (!suffix.empty()) {
    if (suffix.size() != 1) return std::nullopt;
    switch (absl::ascii_tolower(static_cast<unsigned char>(suffix[0]))) {
      case 'k': mult = 1000ull; break;
      case 'm': mult = 1000ull * 1000; break;
      case 'g': mult = 1000ull * 1000 * 1000; break;
      case 't': mult = 1000ull * 1000 * 1000 * 1000; break;
      default: return std::nullopt;
    }
  }
  const uint64_t kMax = std::numeric_limits<int64_t>::max();
  if (count > kMax / mult) return static_cast<int64_t>(kMax);
  return static_cast<int64_t>(count * mult);
}

bool IsOpenMpWaitBounded(std::optional<std::string_view> gomp_spincount,
                         std::optional<std::string_view> omp_wait_policy) {
  // libgomp: a valid GOMP_SPINCOUNT wins; otherwise OMP_WAIT_POLICY=passive
  // means no spinning, =active ~forever, unset 300,000 iterations.
  if (gomp_spincount.has_value()) {
    if (std::optional<int64_t> n = ParseGompSpinCount(*gomp_spincount)) {
      return *n <= kMaxBoundedOpenMpSpinCount;
    }
  }
  return omp_wait_policy.has_value() &&
         absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(Absl(*omp_wait_policy)), "passive");
}

bool OpenMpWaitIsBounded() { return IsOpenMpWaitBounded(Env("GOMP_SPINCOUNT"), Env("OMP_WAIT_POLICY")); }

absl::Status ReexecWithBoundedOpenMpWait(char** argv) {
  if (Env("GOMP_SPINCOUNT").has_value() || Env("OMP_WAIT_POLICY").has_value()) return absl::OkStatus();
  if (setenv("GOMP_SPINCOUNT", absl::StrCat(kDefaultOpenMpSpinCount).c_str(), 1) != 0) {
    return absl::InternalError(absl::StrCat("setenv(GOMP_SPINCOUNT): ", std::strerror(errno)));
  }
  execv("/proc/self/exe", argv);
  // Only reached if the exec failed: this process's libgomp keeps its default.
  const int err = errno;
  unsetenv("GOMP_SPINCOUNT");
  return absl::InternalError(absl::StrCat("re-executing /proc/self/exe with GOMP_SPINCOUNT=",
                                          kDefaultOpenMpSpinCount, ": ", std::strerror(err)));
}

bool ReleaseOpenMpTeamIfWaitBounded() {
  if (!OpenMpWaitIsBounded() || omp_in_parallel()) return false;
  return omp_pause_resource_all(omp_pause_soft) == 0;
}

std::string OpenMpWaitDescription() {
  const std::optional<std::string_view> spin = Env("GOMP_SPINCOUNT");
  const std::optional<std::string_view> policy = Env("OMP_WAIT_POLICY");
  std::string s;
  if (spin) absl::StrAppend(&s, "GOMP_SPINCOUNT=", Absl(*spin), " ");
  if (policy) absl::StrAppend(&s, "OMP_WAIT_POLICY=", Absl(*policy), " ");
  if (s.empty()) s = "libgomp default wait ";
  absl::StrAppend(&s, IsOpenMpWaitBounded(spin, policy) ? "(bounded: one team)" : "(unbounded: throttled)");
  return s;
}

}  // namespace llmserve
