#!/usr/bin/env bash
# Builds a ThreadSanitizer-instrumented Abseil with the same ABI as Debian's
# libabsl20220623 (same source package and version, same CMake options as its
# debian/rules: C++17, shared libraries) so that LD_LIBRARY_PATH can swap it in
# for llmserve and for Debian's gRPC alike. TSan only sees synchronization in
# instrumented code; without this, every absl::Mutex (and gRPC's gpr_mu, built
# on it) is invisible and the suite reports thousands of false races.
# See /work/shared/notes/thread-sanitizer.md and docs/deployment.md.
#
# Usage: scripts/build-tsan-abseil.sh OUT_DIR   (as root, or with sudo)
#   Leaves the libraries in OUT_DIR/lib. Cached: when OUT_DIR/lib/.done names
#   the installed libabsl version, does nothing. Installs dpkg-dev and adds a
#   deb-src entry for Debian's own archive if they are missing.
set -euo pipefail
out=$(realpath -m "${1:?usage: $0 OUT_DIR}")
jobs=${JOBS:-$(nproc)}

pkg=libabsl20220623
version=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
if [ -z "$version" ]; then
  echo "build-tsan-abseil: $pkg is not installed (run scripts/install-deps.sh)" >&2
  exit 1
fi
if [ -f "$out/lib/.done" ] && [ "$(cat "$out/lib/.done")" = "$version" ]; then
  echo "build-tsan-abseil: cached TSan Abseil $version in $out/lib"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
apt_get() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 "$@"; }

if ! dpkg-query -W -f='${Status}' dpkg-dev 2>/dev/null | grep -q "install ok installed"; then
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends dpkg-dev
fi
work="$out/src"
rm -rf "$work" "$out/build" "$out/lib"
mkdir -p "$work"
fetch() { (cd "$work" && apt-get source -qq --download-only "abseil=$version") > /dev/null 2>&1; }
if ! fetch; then
  # No source entry for Debian's archive yet: add one for the suites the
  # binary packages come from (the TSan build must use exactly the installed
  # version's source), refresh the index and try again.
  src_list=/etc/apt/sources.list.d/llmserve-deb-src.sources
  if [ ! -f "$src_list" ]; then
    echo "build-tsan-abseil: adding $src_list"
    $SUDO tee "$src_list" > /dev/null <<'SRC'
# Added by llmserve's scripts/build-tsan-abseil.sh: source packages, for the
# ThreadSanitizer build of Abseil (make test-tsan).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  apt_get update -qq
  if ! fetch; then
    echo "build-tsan-abseil: cannot download the source of abseil=$version" >&2
    exit 1
  fi
fi
(cd "$work" && dpkg-source -x ./*.dsc absl > /dev/null 2>&1)  # applies Debian's patches
if [ ! -f "$work/absl/CMakeLists.txt" ]; then
  echo "build-tsan-abseil: dpkg-source could not unpack the abseil source in $work" >&2
  exit 1
fi

# As debian/rules: -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON (the C++
# standard fixes the ABI: with 17, absl::string_view etc. are std:: aliases),
# build type None with dpkg's -O2 (no -DNDEBUG), plus TSan; -g1 is enough for
# the symbolized stacks the suppressions match on.
cmake -S "$work/absl" -B "$out/build" -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON \
  -DCMAKE_CXX_FLAGS="-O2 -g1 -fsanitize=thread -fno-omit-frame-pointer" \
  -DCMAKE_C_FLAGS="-O2 -g1 -fsanitize=thread -fno-omit-frame-pointer" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
  -DCMAKE_INSTALL_PREFIX="$out/install" -DCMAKE_INSTALL_LIBDIR=lib > "$out/configure.log" 2>&1 \
  || { tail -40 "$out/configure.log" >&2; exit 1; }
cmake --build "$out/build" -j"$jobs" > "$out/build.log" 2>&1 \
  || { tail -40 "$out/build.log" >&2; exit 1; }
cmake --install "$out/build" > /dev/null
mkdir -p "$out/lib"
cp -a "$out/install/lib/"libabsl_*.so* "$out/lib/"
n=$(ls "$out/lib" | grep -c '\.so\.[0-9]*$' || true)
echo "$version" > "$out/lib/.done"
rm -rf "$work" "$out/build" "$out/install"
echo "build-tsan-abseil: $n TSan Abseil libraries ($version) in $out/lib"
