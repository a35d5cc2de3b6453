#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: random-weight checkpoints at real shapes, then
# for f32 and bf16 (bf16 weights + bf16 KV cache) the decode-step roofline table
# at concurrency 1..64, a 512-token prefill against the matmul peak, the kernels
# and peak RSS (benchmarks/engine_throughput measures its own limits).
# Usage: scripts/bench.sh [BUILD_DIR]   (writes models under $BENCH_MODELS, default build/bench-models)
# Env: CONCURRENCY (default 1,2,4,8,16,32,64), PROMPT (128), GEN (32), REPEATS (3), LLMSERVE_CPU_ISA.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
models="${BENCH_MODELS:-$build/bench-models}"
shared="${LLMSERVE_SHARED_DIR:-$root/../shared}"
mkdir -p "$models"
tools="$build/tools/llmserve-tools"
bench="$build/benchmarks/engine_throughput"
levels="${CONCURRENCY:-1,2,4,8,16,32,64}"
prompt="${PROMPT:-128}"
gen="${GEN:-32}"
repeats="${REPEATS:-3}"

[ -f "$models/llama110m.bin" ] || "$tools" make-random-model --preset llama-110m --out "$models/llama110m.bin"
[ -f "$models/gpt2-124m/model.safetensors" ] || "$tools" make-random-model --preset gpt2-124m --out "$models/gpt2-124m"

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
for dtype in f32 bf16; do
  echo "## GPT-2 124M shape, $dtype"
  "$bench" --model "$models/gpt2-124m" --tokenizer "$shared/models/gpt2-tokenizer/encoder.json" \
    --dtype "$dtype" --concurrency "$levels" --prompt_tokens "$prompt" --max_tokens "$gen" --repeats "$repeats"
  echo "## Llama 110M shape, $dtype"
  "$bench" --model "$models/llama110m.bin" --tokenizer "$shared/models/llama2c-tokenizer32k/tokenizer.bin" \
    --dtype "$dtype" --concurrency "$levels" --prompt_tokens "$prompt" --max_tokens "$gen" --repeats "$repeats"
done

if [ -x "$build/benchmarks/paged_attention_bench" ]; then
  echo "## Paged attention kernel"
  "$build/benchmarks/paged_attention_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
fi
