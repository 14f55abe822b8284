# syntax=docker/dockerfile:1
# sealgate service image: SoftHSM2 inside for development tokens, a real HSM module mounted in production.
#
# BASE_IMAGE is any Debian bookworm image with Python 3.11 and its venv module: the public python:3.11-slim-bookworm
# by default, or one made from Debian's packages alone (scripts/image/base.sh, for machines without a registry).
# The service lives in a virtual environment, /opt/sealgate: Debian's own Python is externally managed (PEP 668)
# and refuses system-wide pip installs, while a venv is the same on either base, without --break-system-packages.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/sealgate
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY sealgate ./sealgate
COPY core ./core
COPY identity ./identity
COPY ledger ./ledger
COPY ca ./ca
COPY signer ./signer
COPY physical_seal ./physical_seal
COPY workflow ./workflow
COPY api ./api
COPY templates ./templates
COPY locales ./locales
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/sealgate/bin/pip install -c constraints.txt . \
 && /opt/sealgate/bin/sealgate --help >/dev/null

FROM ${BASE_IMAGE}
# softhsm2: the development token; qpdf: signer/structure.py reads cross-references with it; fonts-noto-cjk and
# fontconfig: the seals' lettering and the documents (signer/outlines.py); pango and harfbuzz: WeasyPrint; tzdata:
# times shown in Asia/Shanghai. The var directory is made here so that a new named volume on it takes the service
# account as its owner.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    ca-certificates softhsm2 qpdf fonts-noto-cjk fontconfig tzdata libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/sealgate --shell /usr/sbin/nologin sealgate \
 && install -d -o sealgate -g sealgate -m 0700 /var/lib/sealgate/var
COPY --from=build /opt/sealgate /opt/sealgate
USER sealgate
WORKDIR /var/lib/sealgate
ENV PATH=/opt/sealgate/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    SEALGATE_VAR_DIR=/var/lib/sealgate/var \
    SEALGATE_HOST=0.0.0.0 \
    SEALGATE_PORT=8000
VOLUME ["/var/lib/sealgate/var"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["sealgate"]
CMD ["serve"]
