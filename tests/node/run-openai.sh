#!/usr/bin/env bash
# Runs the openai npm client test (openai.test.js) against the llmserve binary
# given as $1. Registered with ctest by tests/CMakeLists.txt. A missing node or
# missing npm package (scripts/install-deps.sh installs both) fails the test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="${1:?usage: run-openai.sh PATH/TO/llmserve}"
fail() { echo "node_openai_test: FAIL: $*" >&2; exit 1; }
command -v node > /dev/null || fail "node is not installed (scripts/install-deps.sh installs nodejs)"
[ -f "$here/node_modules/openai/package.json" ] ||
  fail "npm package openai is missing in $here/node_modules (scripts/install-deps.sh runs npm ci)"
[ -x "$binary" ] || fail "not built: $binary"
echo "node_openai_test: node $(node --version), openai $(node -p "require('$here/node_modules/openai/package.json').version"), $binary"
LLMSERVE_BINARY="$binary" exec node --test "$here/openai.test.js"
