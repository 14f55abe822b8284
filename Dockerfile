# sealgate service image: SoftHSM2 inside for development tokens, a real HSM module mounted in production.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY sealgate ./sealgate
COPY core ./core
COPY identity ./identity
COPY ledger ./ledger
COPY ca ./ca
COPY signer ./signer
COPY workflow ./workflow
COPY api ./api
COPY templates ./templates
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends softhsm2 libnss3-tools fonts-noto-cjk \
    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/sealgate sealgate
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER sealgate
WORKDIR /var/lib/sealgate
ENV SEALGATE_VAR_DIR=/var/lib/sealgate/var \
    SEALGATE_HOST=0.0.0.0 \
    SEALGATE_PORT=8000
VOLUME ["/var/lib/sealgate/var"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["sealgate"]
CMD ["serve"]
