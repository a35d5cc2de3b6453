# llmserve — entry points. `make serve` and `make test` work on a fresh Debian
# bookworm machine (as root): they install dependencies when missing.
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
TSAN_DIR  ?= build-tsan
FUZZ_DIR  ?= build-fuzz
JOBS      ?= $(shell nproc)
LISTEN    ?= localhost:50051
HTTP_LISTEN ?= localhost:8000
MODEL     ?= models/stories260K/stories260K.bin
# Extra llmserve flags for `make serve`, e.g. SERVE_FLAGS=--metrics-address=127.0.0.1:9191
SERVE_FLAGS ?=
FUZZ_SECONDS ?= 30
SOAK_DURATION ?= 120
CMAKE_FLAGS ?=
# ccache: paths relative to the checkout, so clones elsewhere share the cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: all deps configure build models serve test test-isa test-sanitize test-tsan fuzz bench check-layering \
        clean test-image test-deploy base-image soak

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > /dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

models:
	@scripts/get-models.sh

## Builds, fetches the default model and serves it on $(LISTEN) (gRPC) and $(HTTP_LISTEN) (OpenAI HTTP API).
serve: build models
	$(BUILD_DIR)/server/llmserve --model $(MODEL) --listen $(LISTEN) --http-listen $(HTTP_LISTEN) $(SERVE_FLAGS)

## Builds and runs every test.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 900

## The test suite once per CPU-ISA level below this host's (LLMSERVE_CPU_ISA can
## only lower the level), so every kernel path — AMX, AVX-512, AVX2, scalar —
## is checked against the references on one machine. ISA_TESTS: a ctest -R regex.
ISA_LEVELS ?= $(if $(shell grep -m1 -o -w amx_tile /proc/cpuinfo),avx512 )avx2 scalar
ISA_TESTS ?= .
## ISA_LABELS: a ctest -L regex of test areas (tests/<area>); empty = every test.
ISA_LABELS ?=
test-isa: build
	@for isa in $(ISA_LEVELS); do \
	  echo "== LLMSERVE_CPU_ISA=$$isa"; \
	  (cd $(BUILD_DIR) && LLMSERVE_CPU_ISA=$$isa ctest --output-on-failure -j$(JOBS) --timeout 900 \
	    -R '$(ISA_TESTS)' $(if $(ISA_LABELS),-L '$(ISA_LABELS)')) || exit 1; \
	done

## Every test under AddressSanitizer + UndefinedBehaviorSanitizer. With GCC,
## as shipped: clang compiles it in ~0.75x the CPU time but links LLVM's
## OpenMP runtime (libomp) instead of libgomp, so the OpenMP-wait and
## prefetch-emission tests fail there and the build is not the one we ship.
test-sanitize: deps
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1" \
	  -DLLMSERVE_SANITIZE=address,undefined -DLLMSERVE_BUILD_BENCHMARKS=OFF > /dev/null
	@cmake --build $(ASAN_DIR) -j$(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 1800

## The thread-exercising tests (server, bench, the engine-thread tests)
## under ThreadSanitizer, with an instrumented Abseil swapped in and one
## compute thread; see scripts/test-tsan.sh.
test-tsan:
	JOBS=$(JOBS) scripts/test-tsan.sh $(TSAN_DIR)

## Runs every libFuzzer target for $(FUZZ_SECONDS) seconds (clang build).
fuzz: deps
	@cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DLLMSERVE_FUZZ=ON -DLLMSERVE_SANITIZE=address,undefined \
	  -DLLMSERVE_BUILD_TESTS=OFF -DLLMSERVE_BUILD_BENCHMARKS=OFF > /dev/null
	@cmake --build $(FUZZ_DIR) -j$(JOBS) --target fuzzers
	@scripts/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

## Container image: built from a clean clone on a debootstrapped base and
## checked (fresh-root `make test`, healthcheck, golden Generate, drain).
test-image:
	scripts/test-image.sh

## Two replicas behind nginx with Prometheus: balancing, counters, dashboard
## queries, alert rules, failover and drain (tests/deploy/deploy_test.py).
test-deploy: build
	scripts/test-deploy.sh

## The local base image for air-gapped image builds (debootstrap, no registry).
base-image:
	scripts/make-base-image.sh llmserve-base:bookworm

## Benchmarks (see docs/benchmarks.md).
bench: build
	scripts/bench.sh

## Soak: a mixed load at saturation for $(SOAK_DURATION) (seconds, or 30m): no
## unexpected status, the counters agree, RSS flat after warm-up, threads and
## fds do not grow, gauges and request maps back to 0 (scripts/soak.sh).
soak: build
	scripts/soak.sh $(SOAK_DURATION)

## Layering: no #include up the stack; every CMake library declares what it uses.
check-layering:
	@scripts/check-layering.sh --self-test
	@scripts/check-layering.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR)
