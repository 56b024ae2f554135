"""The hashed lock files the image and the tests install from (``requirements/*.lock``).

    python tools/lock.py             # re-compile them after a change to pyproject.toml
    python tools/lock.py --check     # exit 1 if one no longer matches pyproject.toml (CI)
    python tools/lock.py --upgrade   # take the newest releases pyproject.toml allows

Each lock is ``uv pip compile --generate-hashes`` (uv pinned in the ``test`` extra) for the
image's platform, CPython 3.11 on x86_64 Linux, and lists every file's hash of each pinned
release, so ``pip install --require-hashes`` also works on other platforms those releases have
wheels for. Pins already in a lock are kept while pyproject.toml allows them (uv prefers the
versions in its output file), so ``--check`` fails when pyproject.toml changed, not when PyPI did.

    sidecar.lock       the runtime: the base dependencies and the [sidecar] extra
    sidecar-mcp.lock   the runtime with the [mcp] extra; the shared pins equal sidecar.lock's
    build-tools.lock   what the image's build stage runs and never ships (the SBOM generator)
"""

from __future__ import annotations

import argparse
import difflib
import pathlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCKS_DIR = ROOT / "requirements"
PLATFORM = ["--python-version", "3.11", "--python-platform", "x86_64-unknown-linux-gnu"]
COMMAND = "python tools/lock.py"


@dataclass(frozen=True)
class Lock:
    name: str
    source: str  # relative to the repository root
    extras: tuple[str, ...] = ()
    constraint: str | None = None  # another lock whose pins this one keeps


LOCKS = (
    Lock("sidecar.lock", "pyproject.toml", ("sidecar",)),
    Lock("sidecar-mcp.lock", "pyproject.toml", ("sidecar", "mcp"), constraint="sidecar.lock"),
    Lock("build-tools.lock", "requirements/build-tools.in"),
)


def compile_lock(lock: Lock, out_dir: pathlib.Path, upgrade: bool = False) -> pathlib.Path:
    """uv's compile of ``lock`` into ``out_dir`` (which may hold the previous pins to keep)."""
    out = out_dir / lock.name
    command = [sys.executable, "-m", "uv", "pip", "compile", "--quiet", lock.source, *PLATFORM]
    command += ["--generate-hashes", "--custom-compile-command", COMMAND, "-o", str(out)]
    for extra in lock.extras:
        command += ["--extra", extra]
    if lock.constraint:
        command += ["-c", str(out_dir / lock.constraint)]
    if upgrade:
        command.append("--upgrade")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"uv pip compile {lock.name} failed:\n{result.stderr[-3000:]}")
    return out


def check() -> list[str]:
    """The locks that differ from a fresh compile, each with its diff."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="locks-") as tmp:
        scratch = pathlib.Path(tmp)
        for lock in LOCKS:
            if (LOCKS_DIR / lock.name).exists():
                shutil.copy(LOCKS_DIR / lock.name, scratch / lock.name)
        for lock in LOCKS:
            # uv names the constraint by its path: the scratch copy's, where the lock names requirements/
            text = compile_lock(lock, scratch).read_text().replace(f"{scratch}/", "requirements/")
            fresh = text.splitlines(keepends=True)
            path = LOCKS_DIR / lock.name
            kept = path.read_text().splitlines(keepends=True) if path.exists() else []
            if fresh != kept:
                diff = difflib.unified_diff(kept, fresh, f"requirements/{lock.name}", "compiled now", n=1)
                problems.append("".join(list(diff)[:60]))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description="Compile or check the hashed lock files.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if a lock is out of date")
    mode.add_argument("--upgrade", action="store_true", help="take the newest allowed releases")
    args = parser.parse_args()
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"lock files are out of date: run {COMMAND}", file=sys.stderr)
        return 1 if problems else 0
    for lock in LOCKS:
        compile_lock(lock, LOCKS_DIR, upgrade=args.upgrade)
        print(f"requirements/{lock.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
