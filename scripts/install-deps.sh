#!/usr/bin/env bash
# Installs llmserve's build and test dependencies from Debian bookworm packages.
# Idempotent: does nothing when every package is already installed.
# Usage: scripts/install-deps.sh [--deploy | --build]   (as root, or with sudo available)
#   --deploy  also what the deployment tests need (make test-image, make
#             test-deploy): Docker Engine, debootstrap, nginx, Prometheus and
#             Python's gRPC for the test clients.
#   --build   only what compiling the four binaries needs (llmserve,
#             llmserve-client, llmserve-bench, llmserve-tools with tests and
#             benchmarks off): the Dockerfile's build stage. No clang, test
#             frameworks, Python or Node.js.
set -euo pipefail

BUILD_PACKAGES=(
  # toolchain
  g++ make cmake pkg-config ccache
  # gRPC and Protocol Buffers
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # oneDNN (matmul primitives), Abseil, ICU (tokenizer character classes)
  libdnnl-dev libabsl-dev libicu-dev
  # dnnl-config.cmake requires OpenCL (only a Recommends of libdnnl-dev)
  ocl-icd-opencl-dev opencl-c-headers
  # metrics, JSON, the HTTP front and llmserve-bench's OpenAI backend (Boost.Beast / Asio, header-only)
  prometheus-cpp-dev nlohmann-json3-dev libboost-dev
  # TLS on the HTTP front (boost::asio::ssl)
  libssl-dev
  # llmserve-bench: HTTP GET of a server's /metrics
  libcurl4-openssl-dev
)
# Everything else `make test`, `make serve` and the sanitizer/fuzz builds need.
PACKAGES=(
  "${BUILD_PACKAGES[@]}"
  git
  # clang + compiler-rt for libFuzzer targets and sanitizer builds
  clang libclang-rt-14-dev
  # scripts/soak.sh: scrapes /metrics and checks the results
  curl python3
  # tests/structured, tests/server/structured_output_server_test: an independent JSON Schema validator
  # (python3-rfc3339: its RFC 3339 `time` format check)
  python3-jsonschema python3-rfc3339
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # the chat-template reference renderer (tests/chat_templates/render_reference.py)
  python3-jinja2
  # TLS test certificates
  openssl
  # the Node.js client test (tests/node)
  nodejs
)
if [ "${1:-}" = "--build" ]; then
  PACKAGES=("${BUILD_PACKAGES[@]}")
else
  # npm, unless the installed nodejs ships its own (NodeSource's, which conflicts with Debian's npm).
  command -v npm > /dev/null || PACKAGES+=(npm)
fi
if [ "${1:-}" = "--deploy" ]; then
  PACKAGES+=(docker.io debootstrap nginx prometheus python3 python3-grpcio python3-protobuf
             python3-matplotlib)
fi

# The Node.js client test's npm packages, exactly as pinned by tests/node/package-lock.json:
# `npm ci` unless node_modules was installed from this very lockfile.
node_packages() {
  local dir
  [ "${1:-}" != "--build" ] || return 0
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/node"
  [ -f "$dir/package-lock.json" ] || return 0  # a partial copy (the Dockerfile's first stage)
  cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json" && return 0
  echo "install-deps: npm ci in tests/node"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"
}

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  node_packages "${1:-}"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
node_packages "${1:-}"
