#!/usr/bin/env bash
# One command from a checkout to the wdp-node image: the base image (if
# needed), the wheels, then `docker build` with nothing downloaded inside.
#
#   docker/build-image.sh                    # tag wdp-node:latest
#   WDP_IMAGE=wdp-node:dev docker/build-image.sh
#   WDP_BASE=python:3.11-slim-bookworm docker/build-image.sh   # a registry base
#
# Without WDP_BASE the official python:3.11-slim-bookworm is used if it is
# already present locally; otherwise docker/build-base.sh makes (or reuses)
# the local wdp-base:bookworm-py3.11 without pulling anything.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${WDP_IMAGE:-wdp-node:latest}
LOCAL_BASE=${WDP_BASE_TAG:-wdp-base:bookworm-py3.11}

die() { echo "build-image: error: $*" >&2; exit 1; }
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (is dockerd running, may you use it?)"

BASE=${WDP_BASE:-}
if [ -z "$BASE" ]; then
  if docker image inspect python:3.11-slim-bookworm >/dev/null 2>&1; then
    BASE=python:3.11-slim-bookworm
  else
    WDP_BASE_TAG=$LOCAL_BASE docker/build-base.sh
    BASE=$LOCAL_BASE
  fi
fi

docker/build-wheels.sh

# A build context with only what the image needs (the checkout stays out of it).
# deps/: every runtime dependency; wdp/: the project's own wheel (changes often).
ctx=build/image-context
rm -rf "$ctx"
mkdir -p "$ctx/deps" "$ctx/wdp"
for whl in build/wheels/*.whl; do
  case $(basename "$whl") in wdp-*) dest=$ctx/wdp ;; *) dest=$ctx/deps ;; esac
  cp -p "$whl" "$dest/"
done
install -m 0755 docker/entrypoint.py "$ctx/wdp-entrypoint"

# BuildKit needs the buildx plugin; without it the classic builder does the job.
if ! docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi
echo "build-image: docker build $IMAGE from $BASE"
start=$(date +%s)
if ! docker build --build-arg BASE="$BASE" -f docker/Dockerfile -t "$IMAGE" "$ctx" >build/image-build.log 2>&1; then
  tail -n 40 build/image-build.log >&2
  die "docker build failed (whole log: build/image-build.log)"
fi
echo "build-image: built $IMAGE in $(( $(date +%s) - start )) s ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
