#!/usr/bin/env bash
# Makes a Debian bookworm base image from Debian's packages alone (mmdebstrap, then podman import), standing in for
# python:3.11-slim-bookworm where no container registry is reachable: Python 3.11 with venv and pip, CA
# certificates, time zones. Prints the image's name on stdout; everything else goes to stderr.
#
# The name carries a hash of what makes the image (this script, the suite, the mirrors), so an image already in
# podman's storage with that name is reused; SEALGATE_IMAGE_REBUILD_BASE=1 makes it again (for newer packages).
set -euo pipefail

suite=bookworm
mirror=${SEALGATE_IMAGE_MIRROR:-http://deb.debian.org/debian}
security_mirror=${SEALGATE_IMAGE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
packages=ca-certificates,netbase,tzdata,python3.11,python3-venv,python3-pip,python-is-python3

inputs_hash=$(
  {
    cat "$0"
    printf '%s\n' "$suite" "$mirror" "$security_mirror" "$packages"
  } | sha256sum | cut -c1-16
)
image="localhost/sealgate-base:$suite-$inputs_hash"

if [ "${SEALGATE_IMAGE_REBUILD_BASE:-0}" != 1 ] && podman image exists "$image"; then
  echo "base image $image: already in podman's storage, reused" >&2
  echo "$image"
  exit 0
fi

work=$(mktemp -d /var/tmp/sealgate-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "base image $image: mmdebstrap $suite from $mirror" >&2
# minbase as in debian:bookworm-slim; no manuals or documentation, no downloaded packages or lists left behind.
mmdebstrap --variant=minbase --include="$packages" --quiet \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*' \
  "$suite" "$work/rootfs.tar" \
  "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security_mirror $suite-security main" >&2
podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "Debian $suite from $mirror with python3.11, venv and pip (scripts/image/base.sh)" \
  "$work/rootfs.tar" "$image" >/dev/null
echo "$image"
