#ifndef LLMSERVE_ENGINE_KV_CACHE_KV_CHECK_H_
#define LLMSERVE_ENGINE_KV_CACHE_KV_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace llmserve::kv_internal {

/// Reports a violated precondition of the KV-cache block manager and aborts.
/// These checks guard against caller bugs (bad block ids, stale prefix hits)
/// that would otherwise silently corrupt the KV cache of other sequences.
[[noreturn]] inline void Fatal(const char* file, int line, const char* condition,
                               const std::string& message) {
  std::fprintf(stderr, "%s:%d: KV-cache check failed: %s: %s\n", file, line, condition,
               message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace llmserve::kv_internal

/// Aborts with the StrCat of the remaining arguments when `cond` is false.
/// Always on (also in Release builds); used only on O(1) or already-O(n) paths.
#define LLMSERVE_KV_CHECK(cond, ...)                                                 \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      ::llmserve::kv_internal::Fatal(__FILE__, __LINE__, #cond, absl::StrCat(__VA_ARGS__)); \
    }                                                                                \
  } while (0)

#endif  // LLMSERVE_ENGINE_KV_CACHE_KV_CHECK_H_
