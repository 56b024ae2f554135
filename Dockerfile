# custom-api-sidecar: the gRPC sidecar, one per agent pod.
#
#   podman build -t custom-api-sidecar .                      # base: python:3.11-slim-bookworm
#   podman build --build-arg BASE_IMAGE=localhost/debian-python3 -t custom-api-sidecar .
#   podman build --build-arg EXTRAS= -t custom-api-sidecar:grpc-only .   # without the MCP server
#
# Build stage: every dependency from a hashed lock (requirements/, made by tools/lock.py), installed
# with hash checking, wheels only; the project's own wheel built without downloading anything; a
# CycloneDX SBOM of the result. Runtime: the base's filesystem less what a running sidecar never
# reads (apt's lists and caches, documentation, translations), with that environment copied in.
# Runs as UID/GID 10001 and works with a read-only root filesystem (it writes only to
# /var/run/custom-api-sidecar, the socket directory, and /tmp).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# The extras beyond [sidecar]: "mcp" (the default: the chart's sidecar.mcp values need it) or empty.
# Each choice has its lock: requirements/sidecar.lock, requirements/sidecar-mcp.lock.
ARG EXTRAS=mcp
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements/ requirements/
# The CA bundle pip trusts comes from the build host as a secret: it is never part of a layer.
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && lock="requirements/sidecar${EXTRAS:+-$EXTRAS}.lock" \
    && if [ ! -f "$lock" ]; then echo "EXTRAS=$EXTRAS: no lock $lock" >&2; exit 1; fi \
    && python3 -m venv /opt/custom-api-sidecar \
    && /opt/custom-api-sidecar/bin/pip install --no-compile --only-binary :all: --require-hashes --no-deps -r "$lock" \
    && python3 -m venv /opt/build-tools \
    && /opt/build-tools/bin/pip install --no-compile --require-hashes --no-deps -r requirements/build-tools.lock
COPY pyproject.toml README.md LICENSE ./
COPY protos/ protos/
COPY client/ client/
COPY sidecar/ sidecar/
RUN /opt/build-tools/bin/pip wheel --no-build-isolation --no-deps --wheel-dir /tmp/wheel . \
    && /opt/custom-api-sidecar/bin/pip install --no-compile --no-deps /tmp/wheel/*.whl \
    && /opt/custom-api-sidecar/bin/pip check \
    && /opt/custom-api-sidecar/bin/pip uninstall --yes pip setuptools \
    && find /opt/custom-api-sidecar -depth \( -name __pycache__ -o -name tests -type d -path "*/site-packages/*/tests" \) \
        -exec rm -rf {} + \
    && find /opt/custom-api-sidecar/lib -type f \( -name "*.pyi" -o -name "*.pyx" -o -name "*.pxd" -o -name "*.pxi" \) \
        -delete \
    && /opt/build-tools/bin/cyclonedx-py environment --pyproject pyproject.toml --output-reproducible \
        --output-format JSON --output-file /opt/custom-api-sidecar/sbom.cdx.json /opt/custom-api-sidecar

FROM ${BASE_IMAGE} AS runtime-files
COPY --from=build /opt/custom-api-sidecar /opt/custom-api-sidecar
RUN rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /usr/share/python-wheels \
        /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* /usr/share/lintian \
    && mkdir -p /var/run/custom-api-sidecar /etc/custom-api-sidecar \
    && chown 10001:10001 /var/run/custom-api-sidecar

# One layer with the trimmed filesystem: removing files in a layer above the base would not shrink it.
# (So the whole filesystem is copied on purpose; hadolint's DL3067 warns against that by default.)
FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="custom-api-sidecar" \
      org.opencontainers.image.description="A gRPC sidecar that lets AI agents call their customers' HTTP APIs safely" \
      org.opencontainers.image.source="https://github.com/custom-api-sidecar/custom-api-sidecar" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# hadolint ignore=DL3067
COPY --from=runtime-files / /
ENV PATH=/opt/custom-api-sidecar/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CUSTOM_API_SIDECAR_CONFIG=/etc/custom-api-sidecar/apis.yaml \
    CUSTOM_API_SIDECAR_LISTEN=unix:///var/run/custom-api-sidecar/sidecar.sock \
    CUSTOM_API_SIDECAR_HEALTH_LISTEN=0.0.0.0:8086 \
    CUSTOM_API_SIDECAR_LOG_FORMAT=json
USER 10001:10001
VOLUME ["/var/run/custom-api-sidecar", "/tmp"]
EXPOSE 8086
STOPSIGNAL SIGTERM
ENTRYPOINT ["custom-api-sidecar", "serve"]
