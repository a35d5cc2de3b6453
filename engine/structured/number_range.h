#ifndef LLMSERVE_ENGINE_STRUCTURED_NUMBER_RANGE_H_
#define LLMSERVE_ENGINE_STRUCTURED_NUMBER_RANGE_H_

// Decimal numbers within bounds as byte-grammar expressions (the JSON Schema
// keywords minimum / maximum / exclusiveMinimum / exclusiveMaximum): the
// classic construction of a regular expression for an integer range, digit
// position by digit position (as in regex range generators and llama.cpp's
// json-schema-to-grammar `_generate_min_max_int`, written here from the idea).

#include <cstdint>
#include <optional>

#include "engine/structured/byte_grammar.h"

namespace llmserve::structured {

/// JSON integers (-?(0|[1-9][0-9]*)) in [lo, hi]; an absent bound is
/// unbounded. Requires lo <= hi when both are given.
Expr IntegerRange(std::optional<int64_t> lo, std::optional<int64_t> hi);

/// JSON numbers without exponent in [lo, hi] (absent: unbounded), integer
/// bounds: an integer part and an optional fraction, chosen so that every
/// generated number is in range (a fraction is only generated where any
/// fraction stays in range, so e.g. hi itself has none).
Expr NumberRange(std::optional<int64_t> lo, std::optional<int64_t> hi);

}  // namespace llmserve::structured

#endif  // LLMSERVE_ENGINE_STRUCTURED_NUMBER_RANGE_H_
