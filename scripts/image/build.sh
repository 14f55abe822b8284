#!/usr/bin/env bash
# Builds the Dockerfile with podman on the given base image, every step run again (no layer cache); only pip's
# download cache is kept between builds (the Dockerfile's cache mount).
# Usage: scripts/image/build.sh BASE_IMAGE TAG
#
# Machines whose HTTPS goes through an intercepting proxy trust its CA in the host's bundle, not in the base image:
# pip in the build is pointed at the host's bundle (SEALGATE_IMAGE_CA_BUNDLE) through a pip.conf mounted for the
# RUN steps only, so nothing of it stays in the image.
set -euo pipefail
cd "$(dirname "$0")/../.."

base=${1:?usage: scripts/image/build.sh BASE_IMAGE TAG}
tag=${2:?usage: scripts/image/build.sh BASE_IMAGE TAG}
ca_bundle=${SEALGATE_IMAGE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

mounts=()
if [ -f "$ca_bundle" ]; then
  conf=$(mktemp /var/tmp/sealgate-pip.XXXXXX.conf)
  trap 'rm -f "$conf"' EXIT
  printf '[global]\ncert = /run/sealgate-host-ca.crt\n' >"$conf"
  chmod 0644 "$conf"
  mounts+=(--volume "$ca_bundle:/run/sealgate-host-ca.crt:ro" --volume "$conf:/etc/pip.conf:ro")
fi

# chroot isolation: containers cannot start on these machines (the OCI runtime may not set rlimits). Docker
# format: the OCI one has no HEALTHCHECK.
podman build --isolation chroot --no-cache --layers=false --format docker \
  --build-arg "BASE_IMAGE=$base" "${mounts[@]}" --tag "$tag" --file Dockerfile .
