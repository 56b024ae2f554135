"""Secret references: ``vault://<mount>/<path>[#<field>]``, ``env://<VAR>``, ``file://<abs path>[#<field>]``.

A reference is what config files hold instead of a secret. Its text is safe to show in
errors and logs; the value it points to never is. Parse errors therefore never echo a
string that is not recognisably a reference: it may be the secret itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SCHEMES = ("vault", "env", "file")
ENVIRONMENT_PLACEHOLDER = "{environment}"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SecretRef:
    """A parsed reference. ``text`` is the reference as written; ``location`` is the part
    between ``scheme://`` and ``#`` (Vault ``mount/path``, a variable name, an absolute path)."""

    text: str
    scheme: str  # vault | env | file
    location: str
    field: str | None = None

    @property
    def has_placeholder(self) -> bool:
        return ENVIRONMENT_PLACEHOLDER in self.text

    def for_environment(self, environment: str) -> SecretRef:
        """This reference with ``{environment}`` substituted.

        Environment variable names cannot hold ``-``, so in ``env://`` references the
        environment is upper-cased with ``-`` as ``_``: SANDBOX, PRE_RELEASE, LIVE."""
        if not self.has_placeholder:
            return self
        name = environment.upper().replace("-", "_") if self.scheme == "env" else environment
        return parse_reference(self.text.replace(ENVIRONMENT_PLACEHOLDER, name))

    def __str__(self) -> str:
        return self.text


def is_reference(value: Any) -> bool:
    """True for a string written as a secret reference (it may still be malformed)."""
    return isinstance(value, str) and value.startswith(tuple(f"{scheme}://" for scheme in SCHEMES))


def parse_reference(text: str) -> SecretRef:
    """Parse a reference; ``ValueError`` names what is wrong and never echoes a non-reference."""
    if not isinstance(text, str) or not text:
        raise ValueError("a secret reference must be a non-empty string like vault://kv/app#key or env://VAR")
    match = _SCHEME.match(text)
    if match is None:
        raise ValueError(
            "is not a secret reference; write vault://<mount>/<path>#<field>, env://<VAR> or file://<absolute path>"
        )
    scheme = match.group(1)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown secret scheme '{scheme}://'; use vault://, env:// or file://")
    if _FORBIDDEN.search(text):
        raise ValueError(f"secret reference {scheme}://... contains whitespace or control characters")
    for placeholder in _PLACEHOLDER.findall(text):
        if placeholder != ENVIRONMENT_PLACEHOLDER:
            raise ValueError(
                f"{text!r}: unknown placeholder {placeholder}; only {ENVIRONMENT_PLACEHOLDER} is supported"
            )
    rest = text[match.end() :]
    location, hash_sign, field = rest.partition("#")
    if hash_sign and not field:
        raise ValueError(f"{text!r}: empty field after '#'")
    if "#" in field:
        raise ValueError(f"{text!r}: more than one '#'")
    if scheme == "vault":
        _check_vault(text, location, field)
    elif scheme == "env":
        _check_env(text, location, field)
    else:
        _check_file(text, location)
    return SecretRef(text=text, scheme=scheme, location=location, field=field or None)


def _check_vault(text: str, location: str, field: str) -> None:
    segments = location.split("/")
    if len(segments) < 2 or not all(segments):
        raise ValueError(f"{text!r}: a Vault reference needs vault://<mount>/<path>#<field> with no empty segments")
    if any(segment in (".", "..") for segment in segments):
        raise ValueError(f"{text!r}: '.' and '..' are not allowed in a Vault path")
    # No '#<field>' (seed 004's key_vault_ref): the source picks the default field; see select_field.


def _check_env(text: str, location: str, field: str) -> None:
    if not location:
        raise ValueError(f"{text!r}: empty environment variable name")
    if field:
        raise ValueError(f"{text!r}: an env:// reference takes no '#<field>'")
    if not _ENV_VAR.match(location.replace(ENVIRONMENT_PLACEHOLDER, "X")):
        raise ValueError(f"{text!r}: {location!r} is not an environment variable name (letters, digits, _)")


def _check_file(text: str, location: str) -> None:
    if not location.startswith("/"):
        raise ValueError(f"{text!r}: a file reference needs an absolute path, like file:///run/secrets/key")
    if location.endswith("/"):
        raise ValueError(f"{text!r}: the path names a directory, not a file")
