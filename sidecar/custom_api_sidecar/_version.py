"""The version, defined in one place: ``version`` in pyproject.toml, read back from the installed
package's metadata (the image's ``org.opencontainers.image.version`` label is checked against it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "custom-api-sidecar"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
