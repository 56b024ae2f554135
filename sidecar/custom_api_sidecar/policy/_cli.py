"""The policy's command-line flags, shared by every command that loads API definitions."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from ._model import (
    EGRESS_OPT_INS,
    ENV_EGRESS,
    ENV_ENV_NAMES,
    ENV_EXTRA_ARGUMENTS,
    ENV_FILE_DIRS,
    ENV_PROXIES,
    ENV_SECRET_SCHEMES,
    ENV_SPEC_DIRS,
    ENV_VAULT_PREFIXES,
    OperatorPolicy,
)


def add_policy_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "operator policy", "what API definitions may reference and open; each flag replaces its variable"
    )
    group.add_argument(
        "--policy-egress",
        action="append",
        metavar="OPT_IN",
        help=f"an egress opt-in APIs may use: {', '.join(EGRESS_OPT_INS)}; repeatable or comma-separated "
        f"(${ENV_EGRESS}; default none)",
    )
    group.add_argument(
        "--policy-secret-schemes",
        metavar="LIST",
        help=f"reference schemes APIs may use, comma-separated (${ENV_SECRET_SCHEMES}; default vault,env,file)",
    )
    group.add_argument(
        "--policy-vault-prefix",
        action="append",
        metavar="MOUNT/PATH",
        help=f"a Vault path prefix APIs may read; repeatable (${ENV_VAULT_PREFIXES}; default any)",
    )
    group.add_argument(
        "--policy-env-name",
        action="append",
        metavar="GLOB",
        help=f"variable names APIs may read, as globs; repeatable (${ENV_ENV_NAMES}; default *, never the "
        "sidecar's own settings)",
    )
    group.add_argument(
        "--policy-file-dir",
        action="append",
        metavar="DIR",
        help=f"a directory whose files APIs may read; repeatable (${ENV_FILE_DIRS}; "
        "default /etc/custom-api-sidecar/secrets)",
    )
    group.add_argument(
        "--policy-spec-dir",
        action="append",
        metavar="DIR",
        help=f"a directory local OpenAPI specs may come from, besides the config file's own; repeatable "
        f"(${ENV_SPEC_DIRS})",
    )
    group.add_argument(
        "--policy-extra-arguments",
        choices=("refuse",),
        help=f"refuse: every API accepts only its operations' declared arguments (${ENV_EXTRA_ARGUMENTS}; "
        "default: as each API's security.extra_arguments says)",
    )
    group.add_argument(
        "--policy-proxy",
        action="append",
        metavar="URL",
        help=f"a forward proxy APIs may name in connection.proxy; repeatable (${ENV_PROXIES}; "
        "HTTPS_PROXY/HTTP_PROXY are always allowed)",
    )


def policy_from_flags(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> OperatorPolicy:
    """The flags over the variables over the defaults; ValueError names a bad value."""

    def listed(values: list[str] | None) -> list[str] | None:
        return None if values is None else [v.strip() for value in values for v in value.split(",") if v.strip()]

    return OperatorPolicy.from_env(
        environ,
        egress=listed(args.policy_egress),
        secret_schemes=listed([args.policy_secret_schemes] if args.policy_secret_schemes is not None else None),
        vault_prefixes=listed(args.policy_vault_prefix),
        env_names=listed(args.policy_env_name),
        file_dirs=listed(args.policy_file_dir),
        spec_dirs=listed(args.policy_spec_dir),
        proxies=listed(args.policy_proxy),
        extra_arguments=listed([args.policy_extra_arguments] if args.policy_extra_arguments else None),
    )
