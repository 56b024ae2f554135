"""The benchmarks (not tests): ``python -m bench`` and ``python -m bench.<name>``."""

import os

# Every benchmark's upstream is plain http on loopback: as the operator, allow it for the API
# definitions the benchmarks load (README, "The operator policy"); sidecar processes inherit it.
os.environ.setdefault("CUSTOM_API_SIDECAR_POLICY_EGRESS", "private_network,allow_http")
