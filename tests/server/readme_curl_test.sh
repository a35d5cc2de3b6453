#!/usr/bin/env bash
# Runs README.md's HTTP quick start as written: the block after the marker
# "<!-- http-quickstart" — its llmserve line (with a free port, the shared
# stories260K and one compute thread added) and then every curl command,
# each of whose output must be a JSON object without "error" or an SSE stream
# of JSON events ending with "data: [DONE]" (checked with Debian's python3).
# Usage: readme_curl_test.sh PATH/TO/llmserve. Removes its temp dir; stops the
# server with SIGTERM and requires exit 0.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
binary="${1:?usage: readme_curl_test.sh PATH/TO/llmserve}"
shared="${LLMSERVE_SHARED_DIR:-$repo/../shared}"
fail() { echo "readme_curl_test: FAIL: $*" >&2; exit 1; }
command -v curl > /dev/null || fail "curl is not installed (scripts/install-deps.sh)"
[ -x "$binary" ] || fail "not built: $binary"

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2> /dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The block: the lines between the marker's ```sh and the closing ```,
# continuation lines joined.
awk '/<!-- http-quickstart/ {m=1; next} m && /^```sh/ {b=1; next} b && /^```/ {exit} b {print}' \
  "$repo/README.md" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' > "$tmp/block.sh"
grep -q '^curl ' "$tmp/block.sh" || fail "no curl lines after the http-quickstart marker in README.md"
server_line="$(grep '^build/server/llmserve ' "$tmp/block.sh")" || fail "no llmserve line in the block"

# The README's server line from the repository root, on a free port.
read -r -a server_args <<< "${server_line#build/server/llmserve }"
server_args=("${server_args[@]/localhost:8000/127.0.0.1:0}")
(cd "$repo" && exec "$binary" "${server_args[@]}" --model="$shared/models/stories260K/stories260K.bin" \
   --listen=127.0.0.1:0 --metrics-address= --threads=1) > "$tmp/server.log" 2>&1 &
server_pid=$!
address=""
for _ in $(seq 1 600); do
  address="$(sed -n 's|.*HTTP API on http://\([^/]*\)/v1.*|\1|p' "$tmp/server.log")"
  [ -n "$address" ] && break
  kill -0 "$server_pid" 2> /dev/null || break
  sleep 0.1
done
[ -n "$address" ] || { cat "$tmp/server.log" >&2; fail "the server did not start"; }

n=0
while IFS= read -r line; do
  case "$line" in curl\ *) ;; *) continue ;; esac
  n=$((n + 1))
  command="${line//localhost:8000/$address}"
  echo "readme_curl_test: $command"
  bash -c "$command" > "$tmp/out.$n" || fail "curl failed: $line"
  /usr/bin/python3 - "$tmp/out.$n" <<'PY' || fail "bad output of: $line"
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
if text.startswith("data: "):
    events = [l[6:] for l in text.splitlines() if l.startswith("data: ")]
    assert events[-1] == "[DONE]", "stream does not end with [DONE]"
    for e in events[:-1]:
        assert "error" not in json.loads(e), e
    print(f"  {len(events) - 1} events, [DONE]")
else:
    body = json.loads(text)
    assert isinstance(body, dict) and "error" not in body, text
    print("  " + text[:120])
PY
done < "$tmp/block.sh"
[ "$n" -ge 4 ] || fail "only $n curl lines ran"

kill -TERM "$server_pid"
wait "$server_pid" || fail "the server exited with $? after SIGTERM"
server_pid=""
echo "readme_curl_test: $n curl commands OK"
