# llmserve container image (see docs/deployment.md).
#
#   DOCKER_BUILDKIT=1 docker build -t llmserve .
#   docker run --rm -p 50051:50051 -p 8000:8000 -p 9090:9090 -v "$PWD/models:/models:ro" llmserve
#
# Air-gapped (no registry): make the base image from Debian packages first,
#   scripts/make-base-image.sh llmserve-base:bookworm      # debootstrap --variant=minbase
#   DOCKER_BUILDKIT=1 docker build --network host \
#     --build-arg DEBIAN_IMAGE=llmserve-base:bookworm -t llmserve .
# (scripts/test-image.sh does exactly this and checks the result.) BuildKit is
# needed for the ccache mount below; Dockerfile's built-in frontend suffices,
# so there is deliberately no `# syntax=` line (it would pull a frontend image).
#
# Flags given after the image name are appended to the defaults below; with
# Abseil flags the last occurrence wins, so `docker run ... llmserve
# --model=/models/other --threads=4` overrides the default model.
#
# Stage 1 builds with exactly the Debian bookworm packages of
# `scripts/install-deps.sh --build` (the build dependencies only: no test
# frameworks, clang, Python or Node.js), on a bare root file system: the proof
# that they suffice to build the binaries (scripts/test-image.sh checks the
# full list with `make serve` and `make test` on a bare root too). Stage 2
# keeps only the runtime shared libraries (no compilers, no -dev packages).
ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
WORKDIR /src
# The dependency layer depends on the script alone, so source edits reuse it.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .
# Extra CMake arguments, e.g. --build-arg CMAKE_ARGS="-DCMAKE_CXX_FLAGS=-g".
ARG CMAKE_ARGS=""
# ccache (installed by install-deps.sh, used by CMakeLists.txt when present)
# keeps its cache in a BuildKit cache mount across builds.
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
      -DLLMSERVE_BUILD_TESTS=OFF -DLLMSERVE_BUILD_BENCHMARKS=OFF ${CMAKE_ARGS} \
 && cmake --build /build -j"$(nproc)" --target llmserve llmserve-client llmserve-bench llmserve-tools \
 && install -D -m 0755 -t /out/usr/local/bin \
      /build/server/llmserve /build/client/llmserve-client /build/client/llmserve-bench \
      /build/tools/llmserve-tools

# ---------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS runtime
# Runtime libraries of the -dev packages the build links against
# (their own dependencies — libgrpc29, libre2-9, libc-ares2, libssl3,
# ocl-icd-libopencl1, libcivetweb1, zlib1g, ... — come with them):
#   libgrpc++-dev → libgrpc++1.51      libprotobuf-dev    → libprotobuf32
#   libdnnl-dev   → libdnnl2           libabsl-dev        → libabsl20220623
#   libicu-dev    → libicu72           prometheus-cpp-dev → libprometheus-cpp-{core,pull}1.0
#   OpenMP (g++)  → libgomp1          libcurl4-openssl-dev → libcurl4 (llmserve-bench)
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libdnnl2 libabsl20220623 libicu72 libgomp1 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libcurl4 \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /out/ /

# Fail the image build if any binary misses a shared library.
RUN set -eu; \
    ldd /usr/local/bin/llmserve /usr/local/bin/llmserve-client /usr/local/bin/llmserve-bench \
        /usr/local/bin/llmserve-tools \
      > /tmp/ldd.txt; \
    if grep -q 'not found' /tmp/ldd.txt; then cat /tmp/ldd.txt >&2; exit 1; fi; \
    rm /tmp/ldd.txt; \
    llmserve --version > /dev/null

# Non-root user with a fixed numeric id (Kubernetes runAsNonRoot can check it).
RUN groupadd --gid 10001 llmserve \
 && useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin llmserve \
 && mkdir -p /models && chmod 0755 /models

# Models are not part of the image: mount them (read-only) at /models.
# The default model is stories260K as placed by scripts/get-models.sh:
# models/stories260K/{stories260K.bin,tok512.bin}.
VOLUME ["/models"]
# 50051: gRPC (llmserve.v1.Generation, grpc.health.v1.Health); 8000: the
# OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, /v1/models,
# /health; docs/http-api.md); 9090: Prometheus /metrics.
EXPOSE 50051 8000 9090
USER 10001:10001
WORKDIR /models

# llmserve handles SIGTERM itself (it blocks the signal and sigwaits, which
# also works as PID 1): health turns NOT_SERVING and in-flight requests get up
# to --drain-timeout seconds. Give `docker stop -t` / stop_grace_period more.
STOPSIGNAL SIGTERM

# Exits 0 only when grpc.health.v1 reports SERVING. llmserve-client exits 2 on
# NOT_SERVING, a value Docker reserves, hence `|| exit 1`. If you move the gRPC
# port, set LLMSERVE_HEALTH_ADDRESS accordingly.
ENV LLMSERVE_HEALTH_ADDRESS=127.0.0.1:50051
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD llmserve-client health --address="$LLMSERVE_HEALTH_ADDRESS" --timeout=3 > /dev/null || exit 1

ENTRYPOINT ["/usr/local/bin/llmserve", \
            "--listen=0.0.0.0:50051", \
            "--http-listen=0.0.0.0:8000", \
            "--metrics-address=0.0.0.0:9090", \
            "--model=/models/stories260K/stories260K.bin"]
CMD []

LABEL org.opencontainers.image.title="llmserve" \
      org.opencontainers.image.description="gRPC inference server for decoder-only language models on CPUs"
