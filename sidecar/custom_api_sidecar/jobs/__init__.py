"""Background jobs: a durable queue (SQLite by default) worked through the sidecar's pipeline."""

from ._queue import JobQueue
from ._store import FAILED, QUEUED, RUNNING, SUCCEEDED, Job, JobStore, JobStoreFull, SqliteJobStore

__all__ = [
    "FAILED",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "Job",
    "JobQueue",
    "JobStore",
    "JobStoreFull",
    "SqliteJobStore",
]
