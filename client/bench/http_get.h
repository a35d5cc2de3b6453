#ifndef LLMSERVE_CLIENT_BENCH_HTTP_GET_H_
#define LLMSERVE_CLIENT_BENCH_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"

namespace llmserve::bench {

/// The body of `url` fetched with an HTTP GET (libcurl), e.g. a Prometheus
/// /metrics page. Gives up after `timeout_seconds`.
/// Errors: UNAVAILABLE (connection or transfer failure, with curl's message),
/// FAILED_PRECONDITION for an HTTP status other than 200.
absl::StatusOr<std::string> HttpGet(const std::string& url, double timeout_seconds = 10);

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_HTTP_GET_H_
