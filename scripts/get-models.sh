#!/usr/bin/env bash
# Places the default model (stories260K: a 260K-parameter Llama-architecture
# model trained on TinyStories, with its 512-token tokenizer) under models/.
# Source: a local mirror folder, $LLMSERVE_MODEL_MIRROR (default ../shared/models
# beside the repository). Models are git-ignored and never committed.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
mirror="${LLMSERVE_MODEL_MIRROR:-$root/../shared/models}"
dest="$root/models/stories260K"

if [ -f "$dest/stories260K.bin" ] && [ -f "$dest/tok512.bin" ]; then
  echo "get-models: $dest already in place"
  exit 0
fi
if [ ! -f "$mirror/stories260K/stories260K.bin" ] || [ ! -f "$mirror/stories260K/tok512.bin" ]; then
  cat >&2 <<MSG
get-models: no model mirror at $mirror
  Expected $mirror/stories260K/{stories260K.bin,tok512.bin}.
  Point LLMSERVE_MODEL_MIRROR at a folder holding them, or download them from
  the tinyllamas release of llama2.c (Hugging Face: karpathy/tinyllamas,
  files stories260K/stories260K.bin and stories260K/tok512.bin) into
  $dest/ yourself. Any llama2.c checkpoint or Hugging Face model directory
  can also be served with: build/server/llmserve --model PATH
MSG
  exit 1
fi
mkdir -p "$dest"
cp "$mirror/stories260K/stories260K.bin" "$mirror/stories260K/tok512.bin" "$dest/"
echo "get-models: copied stories260K from $mirror to $dest"
