#!/usr/bin/env bash
# The whole test suite from a fresh clone: makes .venv, installs everything,
# checks generated code and lint, then runs pytest. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v openssl >/dev/null; then  # the TLS tests make a self-signed certificate
  apt-get update -qq && apt-get install -y -qq openssl >/dev/null
fi
# Debian packages the tests start: iproute2 (the README walkthrough runs in its own network
# namespace), tinyproxy (a real forward proxy for the egress tests), chromium + chromedriver.
missing=""
command -v ip >/dev/null || missing="$missing iproute2"
command -v tinyproxy >/dev/null || missing="$missing tinyproxy"
command -v chromium >/dev/null || missing="$missing chromium"  # the dashboard test's browser
command -v chromedriver >/dev/null || missing="$missing chromium-driver"
command -v podman >/dev/null || missing="$missing podman"  # the image is built and run for real
command -v runc >/dev/null || missing="$missing runc"
command -v debootstrap >/dev/null || missing="$missing debootstrap"  # its base image (no registry)
command -v redis-server >/dev/null || missing="$missing redis-server"  # fleet mode's shared state
command -v redis-cli >/dev/null || missing="$missing redis-tools"  # makes the test Redis Cluster (--cluster create)
if [ -n "$missing" ]; then
  apt-get update -qq && apt-get install -y -qq $missing >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
. .venv/bin/activate
# The runtime exactly as the image has it: every pin of the lock, hash-checked (requirements/, made by
# tools/lock.py). The [mcp] lock, because the tests cover MCP too.
pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements/sidecar-mcp.lock
# Then the test tools and the project itself. The tools are not locked: they never ship, and the [test]
# extra changes as tools come and go. The lock's pins (without their hashes, which would demand hashes of
# every tool too) are constraints here, so no tool can move a runtime pin: a tool that needs another
# version fails this install instead (tests/test_locks.py checks the result).
sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*==[^ ]*\).*/\1/p' requirements/sidecar-mcp.lock > .venv/runtime-pins.txt
pip install -q --disable-pip-version-check -c .venv/runtime-pins.txt -e '.[sidecar,mcp,test]'
rm -f .venv/.installed-* && touch ".venv/.installed-$(cat pyproject.toml requirements/*.lock | sha256sum | cut -c1-16)"  # see examples/run.sh
# checkov (chart scanning) pins dozens of packages of its own: it gets a venv of its own.
if [ ! -x .venv-tools/bin/checkov ]; then
  "${PYTHON:-python3}" -m venv .venv-tools
  .venv-tools/bin/pip install -q --disable-pip-version-check "checkov==3.3.30"
fi
# Node test peers (OAuth2 server, Prism), pinned by tests/peers/package-lock.json.
if ! command -v npm >/dev/null; then
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d tests/peers/node_modules ] || [ tests/peers/package-lock.json -nt tests/peers/node_modules ]; then
  npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error
  touch tests/peers/node_modules
fi
# The Node.js agent example (examples/node/), run by tests/test_node_client.py.
if [ ! -d examples/node/node_modules ] || [ examples/node/package-lock.json -nt examples/node/node_modules ]; then
  npm ci --prefix examples/node --no-audit --no-fund --loglevel=error
  touch examples/node/node_modules
fi

echo "== generated code is up to date"
python protos/generate.py --check
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== pytest"
set +e
python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
