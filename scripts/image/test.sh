#!/usr/bin/env bash
# `make image-test`: the container image built for real and run. Installs podman and mmdebstrap when missing, makes
# (or reuses) the Debian-made base image, builds the Dockerfile on it from scratch, then runs tests/image under
# chroot: the entrypoint until /readyz answers, on the embedded defaults and on a fresh PostgreSQL database.
# Needs root. Prints how long each part took; the built image is removed at the end, the base image kept.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ "$(id -u)" -eq 0 ] || { echo "make image-test needs root (podman build, chroot, mount)" >&2; exit 1; }

tag=${SEALGATE_IMAGE_TAG:-localhost/sealgate:image-test}
timings=()
started=$SECONDS
step_started=$SECONDS
step() {  # records how long the part before it took
  timings+=("$(printf '%-34s %4d s' "$1" $((SECONDS - step_started)))")
  step_started=$SECONDS
}
report() {
  local rc=$1
  if [ ${#timings[@]} -gt 0 ]; then
    echo "image-test timings:"
    printf '  %s\n' "${timings[@]}"
  fi
  echo "image-test: $([ "$rc" -eq 0 ] && echo passed || echo "FAILED ($rc)") in $((SECONDS - started)) s"
}
trap 'report $?' EXIT

scripts/packages.sh podman mmdebstrap
step "system packages"

base=$(scripts/image/base.sh)
step "base image"

podman rmi --force "$tag" >/dev/null 2>&1 || true
scripts/image/build.sh "$base" "$tag"
step "podman build"
trap 'rc=$?; podman rmi --force "$tag" >/dev/null 2>&1 || true; report $rc' EXIT

SEALGATE_IMAGE=$tag .venv/bin/pytest -n 0 -p no:cacheprovider -v --durations=5 tests/image
step "chroot runs (tests/image)"
