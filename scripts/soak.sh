#!/usr/bin/env bash
# Soak: serves a model and drives it at saturation for DURATION with a mixed
# load, watching the server's memory, threads and file descriptors.
#
#   scripts/soak.sh DURATION          # seconds, or 90s / 2m / 30m / 1h
#
# Load: llmserve-bench, closed loop (SOAK_CONCURRENCY in flight, default 32),
# streamed random prompts and outputs of 64 tokens ± 90 % (--range-ratio 0.9),
# temperature 0.8, run in segments of SOAK_SEGMENT seconds (default 60), one
# bench process each (fresh --seed, so fresh prompts), and in every segment,
# drawn per request (client/bench/request_mix.h):
#   - 10 % cancelled by the client after 4 streamed tokens (expected: CANCELLED,
#     or OK if the server finished first);
#   - 10 % of the others sent with a SOAK_DEADLINE-second deadline (default
#     0.05, shorter than most requests take at this load; expected:
#     DEADLINE_EXCEEDED or OK);
#   - 20 % with n = 2, logprobs 3 and prompt_logprobs 1.
# Model: stories260K (SOAK_MODEL overrides): small enough that the 2-core
# development VM runs thousands of requests a minute, so the per-request
# state (maps, detokenizers, KV blocks, gRPC calls) churns as much as possible.
#
# Fails (exit 1, naming the check) if:
#   - a request ends with a status other than OK, CANCELLED (only for a
#     request the client cancelled) or DEADLINE_EXCEEDED (only for one with a
#     deadline);
#   - llmserve-bench's cross-check of its counts against the server's
#     /metrics delta disagrees (its exit 2) in any segment;
#   - RSS grows after warm-up: warm-up is the first 20 % of DURATION; the
#     baseline is the first sample at or after its end; any later sample above
#     baseline × 1.05 fails;
#   - open file descriptors once idle at the end exceed the most seen during
#     warm-up and at the baseline; threads once idle exceed that by more than
#     SOAK_THREAD_SLACK (default 2): gRPC sizes its callback thread pool to
#     the load, so a rise in throughput late in a run adds a thread (a 30-minute
#     run went 22 → 23 at minute 25, when the host's other load ended and the
#     request rate tripled) — a leak grows without bound, which the slack catches;
#   - at the end, after the load: llmserve_num_requests_running/waiting,
#     llmserve_kv_cache_usage_ratio or any llmserve_request_map_entries{map} is
#     not 0 (polled up to 10 s), or the server does not exit 0 on SIGTERM.
# Every 10 s the server's RSS (VmRSS), threads and open fds go to a CSV.
#
# Loopback only (127.0.0.1, ports chosen by the kernel). Bounded: every bench
# process runs under `timeout`, the server's drain is bounded. Cleans up (kills
# the server and the sampler, removes its temp dir) on every exit path.
#
# Environment: BUILD_DIR (default build), LLMSERVE_SHARED_DIR (default
# ../shared), SOAK_OUT (keep soak.csv, summary.txt and the per-segment
# results there, and on a failure also the segment reports and the server's
# log; default: only printed), SOAK_CONCURRENCY, SOAK_SEGMENT,
# SOAK_DEADLINE, SOAK_THREADS (server compute threads, default 2), SOAK_MODEL,
# SOAK_THREAD_SLACK (threads the gRPC pool may add after warm-up, default 2).
# scripts/plot-soak.py SOAK_OUT/soak.csv draws the curves.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/soak.sh DURATION (seconds, or e.g. 90s, 2m, 30m, 1h)" >&2; exit 1; }
[[ $# -eq 1 ]] || usage
case "$1" in
  *h) duration=$(( ${1%h} * 3600 )) ;;
  *m) duration=$(( ${1%m} * 60 )) ;;
  *s) duration=${1%s} ;;
  *) duration=$1 ;;
esac
[[ "$duration" =~ ^[0-9]+$ && "$duration" -ge 20 ]] || { echo "soak: DURATION must be >= 20 s" >&2; usage; }

BUILD_DIR=${BUILD_DIR:-build}
shared=${LLMSERVE_SHARED_DIR:-$(pwd)/../shared}
model=${SOAK_MODEL:-$shared/models/stories260K/stories260K.bin}
concurrency=${SOAK_CONCURRENCY:-32}
segment=${SOAK_SEGMENT:-60}
deadline=${SOAK_DEADLINE:-0.05}
threads=${SOAK_THREADS:-2}
server_bin=$BUILD_DIR/server/llmserve
bench_bin=$BUILD_DIR/client/llmserve-bench
for b in "$server_bin" "$bench_bin"; do
  [[ -x $b ]] || { echo "soak: $b is missing (make build)" >&2; exit 1; }
done
[[ -f $model ]] || { echo "soak: model $model is missing (LLMSERVE_SHARED_DIR?)" >&2; exit 1; }

tmp=$(mktemp -d -t llmserve-soak.XXXXXX)
server_pid=""
sampler_pid=""
cleanup() {
  local rc=$?
  set +e
  if [[ -n $sampler_pid ]]; then kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null; fi
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if (( rc != 0 )) && [[ -n ${SOAK_OUT:-} ]]; then
    # Keep what explains the failure: samples, segment reports, the server's log.
    mkdir -p "$SOAK_OUT"
    cp "$tmp"/*.csv "$tmp"/*.txt "$tmp"/*.err "$tmp"/*.log "$tmp"/segments.jsonl "$SOAK_OUT"/ 2>/dev/null
    echo "soak: kept the failed run's files in $SOAK_OUT" >&2
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
  if [[ -n $server_pid ]] && ! kill -0 "$server_pid" 2>/dev/null; then
    echo "soak: the server died; the end of its log:" >&2
    tail -n 20 "$tmp/server.log" >&2
  fi
  echo "soak: FAILED: $*" >&2
  exit 1
}

# ---- serve ----
"$server_bin" --model "$model" --listen 127.0.0.1:0 --metrics-address 127.0.0.1:0 \
  --threads "$threads" --drain-timeout 20 --shutdown-grace 2s > "$tmp/server.out" 2> "$tmp/server.log" &
server_pid=$!
address="" metrics=""
for _ in $(seq 1 600); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; fail "the server exited at startup"; }
  address=$(sed -n 's/^llmserve: warmed up; serving on \([^ ]*\) .*/\1/p' "$tmp/server.log")
  metrics=$(sed -n 's|^llmserve: metrics on \(http://[^ ]*\)$|\1|p' "$tmp/server.log")
  [[ -n $address && -n $metrics ]] && break
  sleep 0.1
done
[[ -n $address && -n $metrics ]] || fail "the server did not start within 60 s"
echo "soak: server pid $server_pid on $address, $metrics; $duration s, concurrency $concurrency, model $model"

# ---- sample RSS, threads, fds every 10 s ----
csv=$tmp/soak.csv
sample() {
  local rss thr fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null) || return 0
  thr=$(awk '/^Threads:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null) || return 0
  fds=$(ls "/proc/$server_pid/fd" 2>/dev/null | wc -l)
  echo "$1,$rss,$thr,$fds" >> "$csv"
}
echo "t_s,rss_kb,threads,fds" > "$csv"
start=$(date +%s)
(
  while true; do
    sample $(( $(date +%s) - start ))
    sleep 10
  done
) &
sampler_pid=$!

# ---- load, in segments ----
seg=0
while true; do
  now=$(date +%s)
  left=$(( start + duration - now ))
  (( left >= 5 )) || break
  len=$(( left < segment ? left : segment ))
  rc=0
  timeout --kill-after=10 $(( len + 120 )) "$bench_bin" --address "$address" \
    --concurrency "$concurrency" --duration "$len" --seed $(( seg + 1 )) \
    --workload random --input-len 64 --output-len 64 --range-ratio 0.9 \
    --temperature 0.8 --sampling-seed $(( seg + 1 )) \
    --cancel-fraction 0.1 --cancel-after-tokens 4 \
    --timeout "$deadline" --timeout-fraction 0.1 \
    --n 2 --logprobs 3 --prompt-logprobs 1 --n-logprobs-fraction 0.2 \
    --metrics-url "$metrics/metrics" --output "$tmp/seg$seg.json" \
    --save-requests "$tmp/seg$seg.jsonl" > "$tmp/seg$seg.txt" 2> "$tmp/seg$seg.err" || rc=$?
  if (( rc != 0 )); then
    cat "$tmp/seg$seg.txt" "$tmp/seg$seg.err" >&2
    (( rc == 2 )) && fail "segment $seg: the client's and the server's counters disagree"
    fail "segment $seg: llmserve-bench exited $rc"
  fi
  # Statuses, and this segment's figures (the per-request lines are dropped).
  python3 - "$tmp/seg$seg.jsonl" "$tmp/seg$seg.json" "$tmp/segments.jsonl" <<'EOF' || fail "segment $seg: unexpected request statuses (above)"
import collections, json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
result = json.load(open(sys.argv[2]))
statuses = collections.Counter(r["status"] for r in records)
bad = [r for r in records if not (
    r["status"] == "OK" or
    (r["status"] == "CANCELLED" and r["client_cancelled"]) or
    (r["status"] == "DEADLINE_EXCEEDED" and r["had_deadline"]))]
for r in bad[:10]:
    print(f"soak: request {r['index']}: {r['status']} {r['error']!r} "
          f"(client_cancelled={r['client_cancelled']}, had_deadline={r['had_deadline']})", file=sys.stderr)
summary = {
    "requests": len(records), "statuses": dict(statuses),
    "client_cancelled": sum(r["client_cancelled"] for r in records),
    "had_deadline": sum(r["had_deadline"] for r in records),
    "output_tokens_ok": sum(r["output_tokens"] for r in records if r["status"] == "OK"),
    "output_tokens_all": sum(r["output_tokens"] for r in records),
    "duration_s": result["duration"],
    "cross_check": result.get("server_cross_check"),
}
with open(sys.argv[3], "a") as out:
    out.write(json.dumps(summary) + "\n")
print(f"soak: segment {json.dumps(summary['statuses'])}, {summary['output_tokens_all']} tokens in "
      f"{summary['duration_s']:.0f} s")
sys.exit(1 if bad else 0)
EOF
  rm -f "$tmp/seg$seg.jsonl" "$tmp/seg$seg.json"
  seg=$(( seg + 1 ))
done
elapsed=$(( $(date +%s) - start ))

# ---- idle: gauges and request maps back to zero ----
idle_ok=0
for _ in $(seq 1 100); do
  curl -sf --max-time 5 "$metrics/metrics" > "$tmp/metrics.txt" || fail "cannot scrape $metrics/metrics"
  if python3 - "$tmp/metrics.txt" <<'EOF'
import re, sys
held = []
for line in open(sys.argv[1]):
    m = re.match(r'(llmserve_(num_requests_running|num_requests_waiting|kv_cache_usage_ratio|request_map_entries))(\{[^}]*\})? (\S+)$', line.strip())
    if m and float(m.group(4)) != 0:
        held.append(f"{m.group(1)}{m.group(3) or ''} = {m.group(4)}")
if held:
    open(sys.argv[1] + ".held", "w").write("\n".join(held) + "\n")
sys.exit(1 if held else 0)
EOF
  then idle_ok=1; break; fi
  sleep 0.1
done
grep -q '^llmserve_request_map_entries' "$tmp/metrics.txt" || fail "the server exports no llmserve_request_map_entries"
(( idle_ok )) || { cat "$tmp/metrics.txt.held" >&2; fail "not back to zero after the load (above)"; }
sleep 1
sample "$(( $(date +%s) - start ))"
kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""

# ---- drain ----
kill -TERM "$server_pid"
rc=0
timeout 40 tail --pid="$server_pid" -f /dev/null || fail "the server did not exit within 40 s of SIGTERM"
wait "$server_pid" || rc=$?
server_pid=""
(( rc == 0 )) || fail "the server exited $rc on SIGTERM"

# ---- figures and resource checks ----
python3 - "$csv" "$tmp/segments.jsonl" "$duration" "$elapsed" "${SOAK_THREAD_SLACK:-2}" > "$tmp/summary.txt" <<'EOF' || { cat "$tmp/summary.txt"; fail "resource growth (above)"; }
import collections, csv, json, sys
rows = [{k: int(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[1]))]
segments = [json.loads(l) for l in open(sys.argv[2])]
duration, elapsed = int(sys.argv[3]), int(sys.argv[4])
thread_slack = int(sys.argv[5])
statuses = collections.Counter()
for s in segments:
    statuses.update(s["statuses"])
requests = sum(s["requests"] for s in segments)
warmup = 0.2 * duration
after = [r for r in rows if r["t_s"] >= warmup]
tokens = sum(s['output_tokens_all'] for s in segments)
print(f"duration {elapsed} s in {len(segments)} segments; requests {requests} "
      f"({requests / elapsed:.1f}/s, {tokens / elapsed:.0f} tokens/s); statuses {dict(statuses)}")
print(f"client-cancelled {sum(s['client_cancelled'] for s in segments)}, "
      f"with a deadline {sum(s['had_deadline'] for s in segments)}")
print(f"tokens received {tokens} "
      f"(of completed requests {sum(s['output_tokens_ok'] for s in segments)}); "
      f"cross-checks agreed in {len(segments)} of {len(segments)} segments")
ok = True
if not after:
    print("too few samples to judge growth"); sys.exit(1)
base, end = after[0], rows[-1]
peak = max(r["rss_kb"] for r in after)
growth = (peak - base["rss_kb"]) / base["rss_kb"] * 100
print(f"RSS start {rows[0]['rss_kb']/1024:.1f} MiB, after warm-up (t={base['t_s']} s) "
      f"{base['rss_kb']/1024:.1f} MiB, peak after {peak/1024:.1f} MiB (+{growth:.2f} %), "
      f"end {end['rss_kb']/1024:.1f} MiB")
print(f"threads start {rows[0]['threads']}, after warm-up {base['threads']}, "
      f"max {max(r['threads'] for r in rows)}, end (idle) {end['threads']}")
print(f"fds start {rows[0]['fds']}, after warm-up {base['fds']}, max {max(r['fds'] for r in rows)}, "
      f"end (idle) {end['fds']}")
if growth > 5:
    print(f"FAIL: RSS grew {growth:.2f} % after warm-up (limit 5 %)"); ok = False
reference = [r for r in rows if r["t_s"] <= base["t_s"]]  # warm-up and the baseline
for what, slack in (("threads", thread_slack), ("fds", 0)):
    limit = max(r[what] for r in reference) + slack
    if end[what] > limit:
        print(f"FAIL: {end[what]} {what} once idle at the end, more than the "
              f"{limit} allowed (warm-up and baseline maximum + {slack})"); ok = False
sys.exit(0 if ok else 1)
EOF
cat "$tmp/summary.txt"
if [[ -n ${SOAK_OUT:-} ]]; then
  mkdir -p "$SOAK_OUT"
  cp "$csv" "$tmp/summary.txt" "$tmp/segments.jsonl" "$SOAK_OUT/"
  echo "soak: kept soak.csv, summary.txt, segments.jsonl in $SOAK_OUT"
fi
echo "soak: PASSED"
