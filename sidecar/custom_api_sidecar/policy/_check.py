"""Checks of one API definition against the operator's policy: the egress opt-ins it turns on,
the proxy it names, and every secret reference and file path it would read. Each refusal names
the field, the reference or path, and the policy setting (with the flag or variable that sets it).

A reference with ``{environment}`` is checked for every environment, so a definition cannot
reach in one environment what it may not reach in another.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os

from .._text import clipped, shown
from ..config import ENVIRONMENTS, ApiConfig, secret_references
from ..secrets import SecretRef, is_reference, parse_reference
from ._model import ENV_EGRESS, SIDECAR_ENV, SIDECAR_FILES, OperatorPolicy

Problem = tuple[str, str]  # (field, message)

# Each opt-in: the field that turns it on, and how it is written there.
_OPT_IN_FIELDS = {
    "private_network": ("connection.private_network", "true"),
    "ip_allowlist": ("connection.ip_allowlist", "a list of networks"),
    "allow_http": ("connection.allow_http", "true"),
    "verify_ssl_off": ("connection.verify_ssl", "false"),
    "baggage": ("propagate", "baggage"),
}


def api_problems(
    api: ApiConfig, policy: OperatorPolicy, operator_proxies: frozenset[str] = frozenset()
) -> list[Problem]:
    """What in ``api`` the policy refuses. ``operator_proxies``: the proxies of the sidecar's own
    environment (HTTPS_PROXY, HTTP_PROXY), which an API may always name."""
    connection = api.connection
    wanted = {
        "private_network": connection.private_network,
        "ip_allowlist": bool(connection.ip_allowlist),
        "allow_http": connection.allow_http,
        "verify_ssl_off": not connection.verify_ssl,
        "baggage": "baggage" in api.propagate,
    }
    problems = [egress_problem(name, policy) for name, on in wanted.items() if on and name not in policy.egress]
    proxy = connection.proxy
    if proxy not in (None, "direct") and proxy not in set(policy.proxies) | operator_proxies:
        listed = ", ".join(policy.proxies) or "none listed"
        problems.append(
            (
                "connection.proxy",
                f"{shown(proxy)} is refused by the operator policy: an API may name only the operator's proxies "
                f"(HTTPS_PROXY/HTTP_PROXY, and {listed}; {policy.source('proxies')}), because a proxy is "
                "trusted to reach any address",
            )
        )
    for field, text in secret_references(api):
        problem = reference_problem(text, policy)
        if problem:
            problems.append((field, problem))
    bundle = connection.tls.ca_bundle if connection.tls else None
    if bundle and not is_reference(bundle):
        problem = path_problem(bundle, policy.file_dirs, policy, "file_dirs")
        if problem:
            problems.append(("connection.tls.ca_bundle", problem))
    return problems


def with_operator_settings(api: ApiConfig, policy: OperatorPolicy) -> ApiConfig:
    """``api`` with what the policy decides for every API: extra arguments refused, if it says so."""
    if policy.extra_arguments == "refuse" and api.security.extra_arguments != "refuse":
        return dataclasses.replace(api, security=dataclasses.replace(api.security, extra_arguments="refuse"))
    return api


def egress_problem(opt_in: str, policy: OperatorPolicy, field: str | None = None) -> Problem:
    """The refusal of one egress opt-in (``field`` when it is spelled elsewhere, as in ``openapi:``)."""
    default_field, value = _OPT_IN_FIELDS[opt_in]
    source = f" ({policy.sources['egress']})" if "egress" in policy.sources else ""
    allowed = ", ".join(sorted(policy.egress))
    why = f"the egress opt-ins it allows are {allowed}{source}" if allowed else f"it allows no egress opt-ins{source}"
    return (
        field or default_field,
        f"{value} is refused by the operator policy: {why}; an operator allows this one with "
        f"--policy-egress {opt_in} or {ENV_EGRESS}={opt_in}",
    )


def reference_problem(text: str, policy: OperatorPolicy) -> str | None:
    """Why the policy refuses the reference ``text``, or None. Malformed references are the loader's to report."""
    try:
        ref = parse_reference(text)
    except ValueError:
        return None
    text = clipped(text)
    if ref.scheme not in policy.secret_schemes:
        allowed = ", ".join(f"{s}://" for s in sorted(policy.secret_schemes)) or "none"
        return (
            f"{text} is refused by the operator policy: {ref.scheme}:// references are not allowed "
            f"(allowed: {allowed}; {policy.source('secret_schemes')})"
        )
    for environment in ENVIRONMENTS:
        problem = _concrete_problem(ref.for_environment(environment), policy, environment)
        if problem:
            return f"{text} is refused by the operator policy: {problem}"
    return None


def _concrete_problem(ref: SecretRef, policy: OperatorPolicy, environment: str) -> str | None:
    where = shown(ref.location) + (f" (environment {environment})" if ref.location not in ref.text else "")
    if ref.scheme == "vault":
        prefixes = [p.replace("{environment}", environment).strip("/") for p in policy.vault_prefixes]
        if prefixes and not any(ref.location == p or ref.location.startswith(p + "/") for p in prefixes):
            return (
                f"Vault path {where} is outside the allowed prefixes "
                f"({', '.join(policy.vault_prefixes)}; {policy.source('vault_prefixes')})"
            )
        return None
    if ref.scheme == "env":
        name = ref.location
        own = next((pattern for pattern in SIDECAR_ENV if _glob(name, pattern)), None)
        if own is not None:
            return f"variable {where} is the sidecar's own setting ({own}), which API definitions may never read"
        if not any(_glob(name, pattern) for pattern in policy.env_names):
            return (
                f"variable {where} matches none of the allowed names "
                f"({', '.join(policy.env_names) or 'none'}; {policy.source('env_names')})"
            )
        return None
    return path_problem(ref.location, policy.file_dirs, policy, "file_dirs")


def path_problem(path: str, directories: tuple[str, ...], policy: OperatorPolicy, setting: str) -> str | None:
    """Why ``path`` may not be read under ``directories``, or None. Both the path as written
    (``..`` folded) and where its symlinks lead must be inside, and outside the sidecar's own files."""
    written = os.path.normpath(path)
    real = os.path.realpath(path)
    path = clipped(path)
    for candidate in dict.fromkeys((written, real)):
        own = next((d for d in SIDECAR_FILES if _under(candidate, d)), None)
        if own is not None:
            where = path if candidate == written else f"{path} (a link to {clipped(candidate)})"
            return f"{where} is under {own}, which API definitions may never read"
    roots = [(d, os.path.realpath(d)) for d in directories]
    if not any(_under(written, d) or _under(written, r) for d, r in roots) or not any(
        _under(real, r) for _, r in roots
    ):
        return (
            f"{path} is outside the directories API definitions may read "
            f"({', '.join(directories) or 'none'}; {policy.source(setting)})"
        )
    return None


def _under(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory if directory == "/" else directory + "/")


def _glob(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name.upper(), pattern.upper())
