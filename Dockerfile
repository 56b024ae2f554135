# custom-api-sidecar: the gRPC sidecar, one per agent pod.
#
#   podman build -t custom-api-sidecar .                      # base: python:3.11-slim-bookworm
#   podman build --build-arg BASE_IMAGE=localhost/debian-python3 -t custom-api-sidecar .
#
# Build stage: a virtual environment with the sidecar and its dependencies (wheels only, no
# compiler). Runtime stage: the same base with only that environment copied in: no pip cache,
# no build tools, no source tree. Runs as UID/GID 10001, works with a read-only root filesystem
# (it writes only to /var/run/custom-api-sidecar, the socket directory, and /tmp).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY protos/ protos/
COPY client/ client/
COPY sidecar/ sidecar/
# The CA bundle pip trusts comes from the build host as a secret: it is never part of a layer.
RUN --mount=type=secret,id=ca_bundle \
    python3 -m venv /opt/custom-api-sidecar \
    && if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && /opt/custom-api-sidecar/bin/pip install --no-compile ".[sidecar]" \
    && /opt/custom-api-sidecar/bin/pip uninstall --yes pip setuptools \
    && find /opt/custom-api-sidecar -name "__pycache__" -type d -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="custom-api-sidecar" \
      org.opencontainers.image.description="A gRPC sidecar that lets AI agents call their customers' HTTP APIs safely" \
      org.opencontainers.image.source="https://github.com/custom-api-sidecar/custom-api-sidecar" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/custom-api-sidecar /opt/custom-api-sidecar
RUN mkdir -p /var/run/custom-api-sidecar /etc/custom-api-sidecar \
    && chown 10001:10001 /var/run/custom-api-sidecar
ENV PATH=/opt/custom-api-sidecar/bin:$PATH \
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
