#!/usr/bin/env bash
# Runs the Node.js client test (client.test.js) against the llmserve binary
# given as $1. Registered with ctest by tests/CMakeLists.txt. A missing node or
# missing npm packages (scripts/install-deps.sh installs both) fail the test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="${1:?usage: run.sh PATH/TO/llmserve}"
fail() { echo "node_client_test: FAIL: $*" >&2; exit 1; }
command -v node > /dev/null || fail "node is not installed (scripts/install-deps.sh installs nodejs)"
for package in @grpc/grpc-js @grpc/proto-loader; do
  [ -f "$here/node_modules/$package/package.json" ] ||
    fail "npm package $package is missing in $here/node_modules (scripts/install-deps.sh runs npm ci)"
done
[ -x "$binary" ] || fail "not built: $binary"
echo "node_client_test: node $(node --version), $binary"
LLMSERVE_BINARY="$binary" exec node --test "$here/client.test.js"
