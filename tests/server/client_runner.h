#ifndef LLMSERVE_TESTS_SERVER_CLIENT_RUNNER_H_
#define LLMSERVE_TESTS_SERVER_CLIENT_RUNNER_H_

// Runs the llmserve-client binary from tests (RunCommand, CommandResult and
// BuildPath come from tests/test_util.h). Header-only.

#include <string>

#include "tests/test_util.h"

namespace llmserve::testing {

/// The llmserve-client binary of this build tree (<build>/client/).
inline std::string ClientBinary() { return BuildPath("client/llmserve-client"); }

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_SERVER_CLIENT_RUNNER_H_
