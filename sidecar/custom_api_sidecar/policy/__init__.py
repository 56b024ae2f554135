"""The operator's policy over API definitions: which secret references they may use (schemes,
Vault path prefixes, variable names, file directories), which egress opt-ins they may turn on
(private networks, IP allowlists, plain http, unverified TLS), and which proxies they may name.

Set by serve flags, the environment or chart values; never by the definitions file, so a reload
of that file cannot change it. The loader (``custom_api_sidecar.loader``) applies it at load and at
every reload; a refusal is a config problem naming the field, the reference and the policy.
"""

from ._check import api_problems, egress_problem, path_problem, reference_problem, with_operator_settings
from ._cli import add_policy_flags, policy_from_flags
from ._model import (
    DEFAULT_FILE_DIRS,
    EGRESS_OPT_INS,
    ENV_EGRESS,
    ENV_ENV_NAMES,
    ENV_EXTRA_ARGUMENTS,
    ENV_FILE_DIRS,
    ENV_PROXIES,
    ENV_SECRET_SCHEMES,
    ENV_SPEC_DIRS,
    ENV_VAULT_PREFIXES,
    SIDECAR_ENV,
    SIDECAR_FILES,
    OperatorPolicy,
)

__all__ = [
    "DEFAULT_FILE_DIRS",
    "EGRESS_OPT_INS",
    "ENV_EGRESS",
    "ENV_ENV_NAMES",
    "ENV_EXTRA_ARGUMENTS",
    "ENV_FILE_DIRS",
    "ENV_PROXIES",
    "ENV_SECRET_SCHEMES",
    "ENV_SPEC_DIRS",
    "ENV_VAULT_PREFIXES",
    "SIDECAR_ENV",
    "SIDECAR_FILES",
    "OperatorPolicy",
    "add_policy_flags",
    "api_problems",
    "egress_problem",
    "path_problem",
    "policy_from_flags",
    "reference_problem",
    "with_operator_settings",
]
