#!/usr/bin/env bash
# The main job: the sidecar serving examples/apis.yaml (no Vault, no Jaeger).
# Starts the demo upstream, the sidecar on the default unix socket and on
# 127.0.0.1:50051, runs examples/agent.py once through it, then keeps serving
# until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
. .venv/bin/activate
# Install once per version of pyproject.toml and the locks (tests/run.sh writes the same stamp): the
# sidecar's dependencies from the hashed lock, as the image installs them, then the sidecar itself.
stamp=".venv/.installed-$(cat pyproject.toml requirements/*.lock | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements/sidecar.lock
  pip install -q --disable-pip-version-check --no-deps -e .
  rm -f .venv/.installed-* && touch "$stamp"
fi

# Demo credentials, read by the sidecar through env:// references (examples/apis.yaml)
# and checked by the demo upstream. The agent never sees them.
export DEMO_CRM_TOKEN="${DEMO_CRM_TOKEN:-demo-crm-token}" DEMO_PAYMENTS_KEY="${DEMO_PAYMENTS_KEY:-demo-payments-key}"
# The operator's policy: the demo upstream is plain http on loopback, which API definitions may
# use only when the operator allows it (README, Security).
export CUSTOM_API_SIDECAR_POLICY_EGRESS=private_network,allow_http
python examples/demo_upstream.py 8787 &
upstream=$!
custom-api-sidecar serve --config examples/apis.yaml \
  --listen unix:///tmp/custom-api-sidecar.sock --listen 127.0.0.1:50051 &
sidecar=$!
trap 'kill $sidecar 2>/dev/null; wait $sidecar 2>/dev/null; kill $upstream 2>/dev/null' EXIT INT TERM

for _ in $(seq 50); do
  [ -S /tmp/custom-api-sidecar.sock ] && break
  sleep 0.1
done
echo "--- an agent calls through the sidecar (examples/agent.py)"
python examples/agent.py
echo "--- serving; try: python examples/agent.py   (Ctrl-C to stop)"
wait $sidecar
