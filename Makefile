# llmserve — entry points. `make serve` and `make test` work on a fresh Debian
# bookworm machine (as root): they install dependencies when missing.
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
FUZZ_DIR  ?= build-fuzz
JOBS      ?= $(shell nproc)
LISTEN    ?= localhost:50051
MODEL     ?= models/stories260K/stories260K.bin
FUZZ_SECONDS ?= 30
CMAKE_FLAGS ?=
# ccache: paths relative to the checkout, so clones elsewhere share the cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: all deps configure build models serve test test-sanitize fuzz bench check-layering clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > /dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

models:
	@scripts/get-models.sh

## Builds, fetches the default model and serves it on $(LISTEN).
serve: build models
	$(BUILD_DIR)/server/llmserve --model $(MODEL) --listen $(LISTEN)

## Builds and runs every test.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 900

## Server and engine tests under AddressSanitizer + UndefinedBehaviorSanitizer.
test-sanitize: deps
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1" \
	  -DLLMSERVE_SANITIZE=address,undefined -DLLMSERVE_BUILD_BENCHMARKS=OFF > /dev/null
	@cmake --build $(ASAN_DIR) -j$(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 1800

## Runs every libFuzzer target for $(FUZZ_SECONDS) seconds (clang build).
fuzz: deps
	@cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DLLMSERVE_FUZZ=ON -DLLMSERVE_SANITIZE=address,undefined \
	  -DLLMSERVE_BUILD_TESTS=OFF -DLLMSERVE_BUILD_BENCHMARKS=OFF > /dev/null
	@cmake --build $(FUZZ_DIR) -j$(JOBS) --target fuzzers
	@scripts/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

## Benchmarks (see docs/benchmarks.md).
bench: build
	scripts/bench.sh

## Layering: no #include up the stack; every CMake library declares what it uses.
check-layering:
	@scripts/check-layering.sh --self-test
	@scripts/check-layering.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
