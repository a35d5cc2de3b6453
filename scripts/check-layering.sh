#!/usr/bin/env bash
# Checks the layering of llmserve over the #include graph (quoted includes of
# engine/, server/, client/, tools/, cli/ sources) and the CMake targets:
#  1. No include points up the stack: a component includes only components of
#     a strictly lower layer (the LAYERS table below; docs/architecture.md).
#  2. Each CMake library declares what it uses: if component A includes a
#     header of component B, A's CMake target links B's library directly.
#  3. Production code never includes tests/, benchmarks/ or fuzz/.
# Prints one line per violation (file:line, the include, the rule) and exits 1
# if there is any. Usage: scripts/check-layering.sh [repo root]
set -euo pipefail
ROOT="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
exec python3 - "$ROOT" <<'PY'
import os
import re
import sys

root = sys.argv[1]

# Component → layer; a component may include only components of a lower layer.
LAYERS = {
    "common": 0, "cli": 0,  # cli/: header-only helpers of the mains
    "primitives": 1, "tokenizer": 1, "sampling": 1, "kv_cache": 1,
    "ops": 2, "scheduler": 2,
    "models": 3,
    "loaders": 4,
    "engine": 5,        # engine/*.{h,cc}: LLMEngine, model runner, output processor
    "proto": 5,         # generated llmserve/v1/*, grpc/health/v1/*
    "server": 6, "client": 6, "tools": 6,
}
# Component → its CMake library (the target whose link line must declare it).
LIBRARY = {c: "llmserve_" + c for c in
           ["common", "primitives", "tokenizer", "sampling", "kv_cache", "ops",
            "scheduler", "models", "loaders", "engine", "proto", "cli"]}
LIBRARY.update({"server": "llmserve_server_lib", "client": "llmserve-client",
                "tools": "llmserve-tools"})
FORBIDDEN_PREFIXES = ("tests/", "benchmarks/", "fuzz/")


def component_of(path):
    """Component of a repo-relative path or quoted include, None if third-party."""
    parts = path.split("/")
    if parts[0] == "engine":
        return parts[1] if len(parts) > 2 else "engine"
    if parts[0] in ("server", "client", "tools", "cli"):
        return parts[0]
    if path.startswith("llmserve/v1/") or path.startswith("grpc/health/v1/"):
        return "proto"
    return None


def declared_deps():
    """CMake target → the llmserve libraries it links (directly)."""
    deps = {}
    def add(target, items):
        deps.setdefault(target, set()).update(
            i for i in items if i.startswith("llmserve"))
    for cmake in ["engine/CMakeLists.txt", "server/CMakeLists.txt",
                  "client/CMakeLists.txt", "tools/CMakeLists.txt",
                  "proto/CMakeLists.txt", "cli/CMakeLists.txt"]:
        text = open(os.path.join(root, cmake)).read()
        text = re.sub(r"#[^\n]*", "", text)
        for m in re.finditer(r"llmserve_layer\(\s*([^)]*)\)", text):
            words = m.group(1).split()
            if len(words) >= 2 and not words[0].startswith("$"):
                add(words[0], words[2:])
        for m in re.finditer(r"target_link_libraries\(\s*([^)]*)\)", text):
            words = m.group(1).split()
            add(words[0], [w for w in words[1:] if w not in ("PUBLIC", "PRIVATE", "INTERFACE")])
    # The server executable and its library form one component.
    deps.setdefault("llmserve_server_lib", set()).update(
        d for d in deps.get("llmserve", set()) if d != "llmserve_server_lib")
    return deps


deps = declared_deps()
include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
violations = []
for top in ["engine", "server", "client", "tools", "cli"]:
    for dirpath, _, files in os.walk(os.path.join(root, top)):
        for name in sorted(files):
            if not name.endswith((".h", ".cc")):
                continue
            path = os.path.relpath(os.path.join(dirpath, name), root)
            src = component_of(path)
            with open(os.path.join(root, path), errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = include_re.match(line)
                    if not m:
                        continue
                    inc = m.group(1)
                    where = f"{path}:{lineno}: #include \"{inc}\""
                    if inc.startswith(FORBIDDEN_PREFIXES):
                        violations.append(f"{where}: production code includes test/bench code")
                        continue
                    dst = component_of(inc)
                    if dst is None or dst == src:
                        continue
                    if LAYERS[dst] >= LAYERS[src]:
                        violations.append(
                            f"{where}: {src} (layer {LAYERS[src]}) includes {dst} "
                            f"(layer {LAYERS[dst]}): an include up or across the stack")
                    lib, dst_lib = LIBRARY[src], LIBRARY[dst]
                    if dst_lib not in deps.get(lib, set()):
                        violations.append(
                            f"{where}: {lib} uses {dst_lib} but its CMake link line "
                            f"does not declare it")

for v in violations:
    print(v)
sys.stdout.flush()
if violations:
    print(f"check-layering: {len(violations)} violation(s)", file=sys.stderr)
    sys.exit(1)
print("check-layering: OK")
PY
