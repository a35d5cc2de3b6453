#ifndef LLMSERVE_CLIENT_BENCH_PROM_TEXT_H_
#define LLMSERVE_CLIENT_BENCH_PROM_TEXT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace llmserve::bench {

/// One sample of a Prometheus text exposition:
/// `name{label="value",...} value [timestamp]`.
struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// Parses the Prometheus text exposition format, version 0.0.4
/// (https://prometheus.io/docs/instrumenting/exposition_formats/): one sample
/// per line; `#` lines (HELP, TYPE, comments) and blank lines skipped; label
/// values with the escapes \\, \" and \n; values as Go's ParseFloat (numbers,
/// and case-insensitively NaN, +Inf, -Inf); an optional integer timestamp (ignored).
/// Errors: INVALID_ARGUMENT with the line number and what is wrong.
absl::StatusOr<std::vector<PromSample>> ParsePromText(const std::string& text);

/// Sum of the values of the samples named `name` whose labels include all of
/// `labels` (0 if none match; e.g. a counter family summed over its labels).
double SumSamples(const std::vector<PromSample>& samples, const std::string& name,
                  const std::map<std::string, std::string>& labels = {});

}  // namespace llmserve::bench

#endif  // LLMSERVE_CLIENT_BENCH_PROM_TEXT_H_
