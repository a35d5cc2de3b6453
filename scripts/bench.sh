#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: random-weight checkpoints at real shapes, then
# engine throughput vs concurrency and batch-1 decode vs the roofline.
# Usage: scripts/bench.sh [BUILD_DIR]   (writes models under $BENCH_MODELS, default build/bench-models)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
models="${BENCH_MODELS:-$build/bench-models}"
shared="${LLMSERVE_SHARED_DIR:-$root/../shared}"
mkdir -p "$models"
tools="$build/tools/llmserve-tools"
bench="$build/benchmarks/engine_throughput"

[ -f "$models/llama110m.bin" ] || "$tools" make-random-model --preset llama-110m --out "$models/llama110m.bin"
[ -f "$models/gpt2-124m/model.safetensors" ] || "$tools" make-random-model --preset gpt2-124m --out "$models/gpt2-124m"

echo "## Llama 110M shape, f32, concurrency sweep"
"$bench" --model "$models/llama110m.bin" --tokenizer "$shared/models/llama2c-tokenizer32k/tokenizer.bin" \
  --concurrency 1,2,4,8,16,32,64 --prompt_tokens 32 --max_tokens 64 --repeats 3

for dtype in f32 bf16; do
  echo "## GPT-2 124M shape, $dtype"
  "$bench" --model "$models/gpt2-124m" --tokenizer "$shared/models/gpt2-tokenizer/encoder.json" \
    --dtype "$dtype" --concurrency 1,32 --prompt_tokens 32 --max_tokens 64 --repeats 3
done

if [ -x "$build/benchmarks/paged_attention_bench" ]; then
  echo "## Paged attention kernel"
  "$build/benchmarks/paged_attention_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
fi
