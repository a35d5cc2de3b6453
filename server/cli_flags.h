#ifndef LLMSERVE_SERVER_CLI_FLAGS_H_
#define LLMSERVE_SERVER_CLI_FLAGS_H_

// Moved to cli/cli_flags.h (component llmserve_cli, shared by every main).
// Kept so that code written against the old path still builds; new code
// includes "cli/cli_flags.h" (scripts/check-layering.sh flags a client that
// includes server/ headers).
#include "cli/cli_flags.h"

#endif  // LLMSERVE_SERVER_CLI_FLAGS_H_
