"""Secret references and the store that resolves them.

Config holds references, never values: ``vault://<mount>/<path>#<field>``,
``env://<VAR>``, ``file://<absolute path>[#<field>]``, any of which may contain
``{environment}``. The store reads each referenced value before the first call and
keeps it fresh in the background; the call path reads memory only.

Exceptions::

    ValueError              parse_reference: a malformed reference (message names the problem)
    SecretUnavailable       a source could not resolve a reference (message names it, never a value)
    SidecarError(CREDENTIALS_UNAVAILABLE)
                            SecretStore.get: never resolved, or older than the maximum staleness
"""

from ._factory import build_secret_store
from ._heuristics import looks_like_secret
from ._reference import SCHEMES, SecretRef, is_reference, parse_reference
from ._settings import SecretSettings
from ._source import Fetched, SecretSource, SecretUnavailable
from ._store import SecretStatus, SecretStore
from .env import EnvSource
from .file import FileSource

__all__ = [
    "SCHEMES",
    "EnvSource",
    "Fetched",
    "FileSource",
    "SecretRef",
    "SecretSettings",
    "SecretSource",
    "SecretStatus",
    "SecretStore",
    "SecretUnavailable",
    "build_secret_store",
    "is_reference",
    "looks_like_secret",
    "parse_reference",
]
