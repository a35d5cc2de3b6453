#ifndef LLMSERVE_ENGINE_COMMON_STATUS_MACROS_H_
#define LLMSERVE_ENGINE_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Early-return helpers for absl::Status / absl::StatusOr (the Debian Abseil
// 20220623 has none).

/// Returns the status of `expr` (an absl::Status) from the enclosing function if it is not OK.
#define LLMSERVE_RETURN_IF_ERROR(expr)                  \
  do {                                                  \
    if (::absl::Status _llmserve_status = (expr);       \
        !_llmserve_status.ok()) {                       \
      return _llmserve_status;                          \
    }                                                   \
  } while (false)

/// Evaluates `expr` (an absl::StatusOr<T>); returns its status if not OK, else
/// assigns (or declares, e.g. `auto x`) `lhs` from its value.
#define LLMSERVE_ASSIGN_OR_RETURN(lhs, expr) \
  LLMSERVE_ASSIGN_OR_RETURN_IMPL_(LLMSERVE_STATUS_CONCAT_(_llmserve_or_, __LINE__), lhs, expr)

#define LLMSERVE_STATUS_CONCAT_INNER_(a, b) a##b
#define LLMSERVE_STATUS_CONCAT_(a, b) LLMSERVE_STATUS_CONCAT_INNER_(a, b)
#define LLMSERVE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = *std::move(tmp)

#endif  // LLMSERVE_ENGINE_COMMON_STATUS_MACROS_H_
