#!/usr/bin/env bash
# Deployment integration test (issue #8): two llmserve replicas behind nginx
# (deploy/nginx/nginx.conf) with Prometheus scraping them; load balancing,
# counters, dashboard queries, alert rules, failover and drain, all asserted
# through Prometheus's HTTP API (tests/deploy/deploy_test.py). `make test-deploy`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
"$repo/scripts/install-deps.sh" --deploy
[ -x "$build/server/llmserve" ] || { echo "test-deploy: build first (make build)" >&2; exit 1; }
shared="${LLMSERVE_SHARED_DIR:-$repo/../shared}"
cd "$repo/tests/deploy"
LLMSERVE_BIN="$build/server/llmserve" LLMSERVE_MODEL="$shared/models/stories260K/stories260K.bin" \
  /usr/bin/python3 deploy_test.py -v
