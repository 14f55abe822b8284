#!/usr/bin/env bash
# Installs what sealgate needs on a Debian machine: system packages when missing, then .venv with the project.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/packages.sh softhsm2 poppler-utils qpdf fonts-noto-cjk libnss3-tools openssl curl jq \
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
  postgresql-client  # pg_dump and pg_restore: `sealgate backup` and `restore` on PostgreSQL

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      python=$candidate
      break
    fi
  done
fi
[ -n "$python" ] || { echo "sealgate needs Python 3.11 or newer" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
