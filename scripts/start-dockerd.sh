#!/usr/bin/env bash
# Starts Debian's dockerd in the background when no Docker daemon answers
# (CI machines run no init system). Logs to /var/log/llmserve-dockerd.log.
# Usage: scripts/start-dockerd.sh   (as root)
set -euo pipefail
DOCKER="${DOCKER:-/usr/bin/docker}"
if $DOCKER info > /dev/null 2>&1; then exit 0; fi
command -v dockerd > /dev/null || { echo "start-dockerd: dockerd missing (apt-get install docker.io)" >&2; exit 1; }
echo "start-dockerd: starting dockerd"
nohup dockerd > /var/log/llmserve-dockerd.log 2>&1 &
for _ in $(seq 60); do
  if $DOCKER info > /dev/null 2>&1; then exit 0; fi
  sleep 1
done
tail -20 /var/log/llmserve-dockerd.log >&2
echo "start-dockerd: dockerd did not come up in 60 s" >&2
exit 1
