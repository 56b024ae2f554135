"""The resident-memory high-water mark of another process (Linux ``/proc``), for tests that show a
compression bomb costs a process a bounded amount of memory."""

from __future__ import annotations

import pathlib

MB = 1_000_000


def _status_kb(pid: int, field: str) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def reset_peak(pid: int) -> int:
    """Reset the process's VmHWM to its current RSS (``clear_refs`` 5); the RSS in bytes, as the baseline."""
    pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status_kb(pid, "VmRSS") * 1024


def peak(pid: int) -> int:
    """VmHWM in bytes: the most resident memory since the last ``reset_peak``."""
    return _status_kb(pid, "VmHWM") * 1024
