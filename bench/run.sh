#!/usr/bin/env bash
# The benchmark from a fresh clone: makes .venv-bench with the sidecar's own dependencies only
# (what the image has: no test tools, so RSS is what a pod sees), runs `python -m bench`
# (args pass through, e.g. --quick). Uses nginx as the upstream when it is installed
# (Debian: apt-get install nginx), else a small built-in server. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-bench/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv-bench
fi
. .venv-bench/bin/activate
# What the default image has: its lock (with the MCP server, which bench/mcp_overhead.py measures),
# hash-checked, then the sidecar itself.
{
  pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements/sidecar-mcp.lock
  pip install -q --disable-pip-version-check --no-deps -e .
} 2>&1 | grep -v -e '^WARNING: Location' -e 'BuildBackendWarning' >&2 || true
python -m bench "$@"
