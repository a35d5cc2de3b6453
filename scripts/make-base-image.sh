#!/usr/bin/env bash
# Builds a minimal Debian bookworm base image from Debian packages alone and
# `docker import`s it under a local tag, for machines that cannot pull from a
# registry (air-gapped builds, CI). The Dockerfile takes it via
# `--build-arg DEBIAN_IMAGE=<tag>`.
#
# Usage: scripts/make-base-image.sh [TAG]        (as root; default TAG llmserve-base:bookworm)
# Env:   DEBIAN_MIRROR  the Debian mirror URL for debootstrap and for apt inside
#                       the image; default: the first Debian URI of this host's apt sources.
#        REBUILD=1      rebuild even when TAG exists.
#
# The root file system is `debootstrap --variant=minbase bookworm`; this host's
# apt configuration (sources and apt.conf.d) is copied in, so apt inside the
# image reaches the same mirror or proxy as the host.
set -euo pipefail
TAG="${1:-llmserve-base:bookworm}"
DOCKER="${DOCKER:-docker}"

if [ "${REBUILD:-0}" != 1 ] && $DOCKER image inspect "$TAG" > /dev/null 2>&1; then
  echo "make-base-image: $TAG exists (REBUILD=1 to rebuild)"
  exit 0
fi
command -v debootstrap > /dev/null || {
  echo "make-base-image: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # deb822 sources (URIs: ...) or one-line sources (deb URL bookworm main).
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
           | awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}')
fi
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
           | awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}')
fi
[ -n "$mirror" ] || { echo "make-base-image: set DEBIAN_MIRROR (no Debian mirror in this host's apt sources)" >&2; exit 1; }

root=$(mktemp -d /tmp/llmserve-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "make-base-image: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.log" 2>&1 || {
  tail -30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

# Same apt sources and settings as the host (mirror, proxy, validity checks).
if ls /etc/apt/sources.list.d/*.sources > /dev/null 2>&1; then
  rm -f "$root/etc/apt/sources.list"
  for f in /etc/apt/sources.list.d/*.sources; do
    grep -q 'debian' "$f" && cp "$f" "$root/etc/apt/sources.list.d/"
  done
fi
cp /etc/apt/apt.conf.d/* "$root/etc/apt/apt.conf.d/" 2>/dev/null || true
# Slim: no apt lists, caches, docs or man pages in the base layer.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
       "$root"/usr/share/man/* "$root"/usr/share/locale/*

tar -C "$root" -c . | $DOCKER import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' - "$TAG" > /dev/null
echo "make-base-image: $TAG ($($DOCKER image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
