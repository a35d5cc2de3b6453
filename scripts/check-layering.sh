#!/usr/bin/env bash
# Checks the layering of llmserve over the #include graph (quoted includes of
# engine/, server/, client/, tools/, cli/ sources) and the CMake targets:
#  1. No include points up the stack: a component includes only components of
#     a strictly lower layer (the LAYER table below; docs/architecture.md).
#  2. Each CMake library declares what it uses: if component A includes a
#     header of component B, A's CMake target links B's library directly.
#  3. Production code never includes tests/, benchmarks/ or fuzz/.
# Prints one line per violation (file:line, the include, the rule) and exits 1
# if there is any. Usage: scripts/check-layering.sh [repo root]
#        scripts/check-layering.sh --self-test   (the check fails on a planted
#        upward include and on an undeclared use, and passes without them)
set -euo pipefail
if [ "${1:-}" = "--self-test" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/engine/common" "$tmp/engine/primitives" "$tmp/engine/ops"
  printf '%s\n' 'llmserve_layer(llmserve_common common)' \
    'llmserve_layer(llmserve_primitives primitives llmserve_common)' \
    'llmserve_layer(llmserve_ops ops llmserve_common)' > "$tmp/engine/CMakeLists.txt"
  echo '#include "engine/common/a.h"' > "$tmp/engine/ops/b.h"
  : > "$tmp/engine/common/a.h"
  : > "$tmp/engine/primitives/p.h"
  "$0" "$tmp" > /dev/null || { echo "self-test: a clean tree was rejected"; exit 1; }
  echo '#include "engine/ops/b.h"' > "$tmp/engine/common/a.h"
  if "$0" "$tmp" > /dev/null 2>&1; then echo "self-test: an upward include passed"; exit 1; fi
  : > "$tmp/engine/common/a.h"
  echo '#include "engine/primitives/p.h"' >> "$tmp/engine/ops/b.h"
  if "$0" "$tmp" > /dev/null 2>&1; then echo "self-test: an undeclared use passed"; exit 1; fi
  echo "check-layering self-test: OK"
  exit 0
fi
ROOT="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$ROOT"
set -f  # no pathname expansion when splitting CMake argument lists

# Component → layer; a component may include only components of a lower layer.
declare -A LAYER=(
  [common]=0 [cli]=0            # cli/: header-only helpers of the mains
  [primitives]=1 [tokenizer]=1 [sampling]=1 [kv_cache]=1 [chat_template]=1
  [ops]=2 [scheduler]=2 [structured]=2
  [models]=3
  [loaders]=4
  [engine]=5                    # engine/*.{h,cc}: LLMEngine, model runner, output processor
  [proto]=5                     # generated llmserve/v1/*, grpc/health/v1/*
  [server]=6 [client]=6 [tools]=6
)
# Component → its CMake library (the target whose link line must declare it).
declare -A LIBRARY
for c in common primitives tokenizer sampling kv_cache chat_template ops scheduler structured models loaders engine proto cli; do
  LIBRARY[$c]="llmserve_$c"
done
LIBRARY[server]=llmserve_server_lib
LIBRARY[client]=llmserve-client
LIBRARY[tools]=llmserve-tools

# CMake target → " llmserve libraries it links directly ".
declare -A DEPS
parse_cmake() {
  local text call kind args target w
  text=$(sed 's/#.*//' "$1" | tr '\n' ' ')
  while read -r call; do
    [ -n "$call" ] || continue
    kind=${call%%(*}
    args=${call#*(}
    args=${args%)}
    # shellcheck disable=SC2086
    set -- $args
    [ $# -ge 1 ] || continue
    target=$1
    shift
    if [ "$kind" = llmserve_layer ] && [ $# -ge 1 ]; then shift; fi  # the folder
    for w in "$@"; do
      case $w in llmserve*) DEPS[$target]+=" $w " ;; esac
    done
  done < <(grep -oE '(llmserve_layer|target_link_libraries)\([^)]*\)' <<< "$text" || true)
}
for f in engine/CMakeLists.txt server/CMakeLists.txt client/CMakeLists.txt \
         tools/CMakeLists.txt proto/CMakeLists.txt cli/CMakeLists.txt; do
  [ -f "$f" ] && parse_cmake "$f"
done
# The server executable and its library form one component.
DEPS[llmserve_server_lib]+=" ${DEPS[llmserve]:-} "

component_of() {
  case $1 in
    engine/*/*) local rest=${1#engine/}; echo "${rest%%/*}" ;;
    engine/*) echo engine ;;
    server/*|client/*|tools/*|cli/*) echo "${1%%/*}" ;;
    llmserve/v1/*|grpc/health/v1/*) echo proto ;;
    *) echo "" ;;
  esac
}

violations=0
report() {
  echo "$1"
  violations=$((violations + 1))
}
while IFS= read -r file; do
  src=$(component_of "$file")
  if [ -z "${LAYER[$src]:-}" ]; then
    report "$file: component '$src' has no layer in scripts/check-layering.sh"
    continue
  fi
  while IFS= read -r hit; do
    [ -n "$hit" ] || continue
    lineno=${hit%%:*}
    inc=$(sed -E 's/^[^"]*"([^"]+)".*/\1/' <<< "$hit")
    where="$file:$lineno: #include \"$inc\""
    case $inc in
      tests/*|benchmarks/*|fuzz/*)
        report "$where: production code includes test/bench code"
        continue ;;
    esac
    dst=$(component_of "$inc")
    { [ -n "$dst" ] && [ "$dst" != "$src" ]; } || continue
    if [ -z "${LAYER[$dst]:-}" ]; then
      report "$where: component '$dst' has no layer in scripts/check-layering.sh"
      continue
    fi
    if [ "${LAYER[$dst]}" -ge "${LAYER[$src]}" ]; then
      report "$where: $src (layer ${LAYER[$src]}) includes $dst (layer ${LAYER[$dst]}): an include up or across the stack"
    fi
    lib=${LIBRARY[$src]}
    dst_lib=${LIBRARY[$dst]}
    case "${DEPS[$lib]:-}" in
      *" $dst_lib "*) ;;
      *) report "$where: $lib uses $dst_lib but its CMake link line does not declare it" ;;
    esac
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"]+"' "$file" || true)
done < <(find engine server client tools cli \( -name '*.h' -o -name '*.cc' \) 2>/dev/null | LC_ALL=C sort)

if [ "$violations" -gt 0 ]; then
  echo "check-layering: $violations violation(s)" >&2
  exit 1
fi
echo "check-layering: OK"
