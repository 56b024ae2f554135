"""The ``custom-api-sidecar`` console script.

The script is installed with the package, also by a client-only ``pip install`` that lacks
the sidecar's dependencies; there it says what to install instead of printing a traceback.
"""

from __future__ import annotations

import sys

INSTALL_HINT = "pip install 'custom-api-sidecar[sidecar]'"


def main(argv: list[str] | None = None) -> int:
    try:
        from .cli import main as cli_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("custom_api_"):
            raise  # our own bug, not a missing extra
        print(
            f"custom-api-sidecar: the sidecar's dependencies are not installed (no module {exc.name!r}).\n"
            f"This environment has the agent-side client only. Install the sidecar with: {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
