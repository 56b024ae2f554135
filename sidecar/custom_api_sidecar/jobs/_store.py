"""Where background jobs live. ``JobStore`` is what the queue needs; ``SqliteJobStore`` is the
embedded default: a SQLite file (WAL mode, every commit fsynced before the job is acknowledged).
One row per job: the InvokeRequest as protobuf bytes, the caller's metadata (conversation id,
trace context: never credentials, which are injected when the job runs), its state, and once it
has run, the response or the error. (Fleet mode keeps jobs in a Redis Stream instead:
``custom_api_sidecar.fleet.jobs``.)

Every SQLite statement runs in a worker thread (``asyncio.to_thread``): it never blocks the loop.

A store given ``max_bytes`` (the size of its volume) keeps its database within about half of it,
so the write-ahead log fits beside it: a full store then answers ``JobStoreFull`` (SQLite's
"database or disk is full") before the disk is full, which on Kubernetes means before the
kubelet evicts the pod for outgrowing its ``emptyDir`` ``sizeLimit``. A full disk answers the same.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from ..errors import StartupError

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
FINISHED = (SUCCEEDED, FAILED)

# Disk beyond the database a capped store may use: the log's frames since its last checkpoint
# (SQLite checkpoints at 1,000 pages, 4 MiB) and its shared-memory index. The log's own frames
# for one write are at most the database's size, hence the halving in ``database_cap``.
LOG_SLACK_BYTES = 8 * 2**20
MIN_MAX_BYTES = 16 * 2**20
# After a checkpoint, the log file is cut back to this size instead of keeping its high-water mark.
LOG_KEEP_BYTES = 4 * 2**20


class JobStoreFull(Exception):
    """The store has no room for a write (its disk, or its size cap, is full)."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    api TEXT NOT NULL,
    operation TEXT NOT NULL,
    request BLOB NOT NULL,
    metadata TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    response BLOB,
    error BLOB
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, not_before);
"""


@dataclass(frozen=True)
class Job:
    id: str
    state: str
    api: str
    operation: str
    request: bytes  # an InvokeRequest
    metadata: tuple[tuple[str, str], ...]
    attempts: int
    created_at: float
    updated_at: float
    response: bytes | None = None  # an InvokeResponse
    error: bytes | None = None  # an ErrorDetail


class JobStore(Protocol):
    """Durable storage for the queue; every method is a coroutine."""

    async def open(self) -> None:
        """Create or connect; StartupError when unusable."""

    async def add(
        self, job_id: str, api: str, operation: str, request: bytes, metadata: tuple[tuple[str, str], ...]
    ) -> None:
        """Store a queued job durably; only then is it acknowledged. JobStoreFull when there is no room."""

    async def claim(self, limit: int) -> list[Job]:
        """Up to ``limit`` due jobs, marked running (attempts counted)."""

    async def finish(self, job_id: str, state: str, response: bytes | None, error: bytes | None) -> None:
        """Record the outcome. JobStoreFull when there is no room for it."""

    async def requeue(self, job_id: str, delay: float) -> None:
        """Queued again, due in ``delay`` seconds."""

    async def recover(self) -> int:
        """At start: jobs a dead sidecar left running are queued again; how many."""

    async def get(self, job_id: str) -> Job | None: ...

    async def next_due(self) -> float | None:
        """When (epoch seconds) a queued job is due next, if known."""

    async def prune(self, older_than: float) -> int:
        """Forget finished jobs last updated before ``older_than``."""

    async def close(self) -> None: ...


def database_cap(max_bytes: int) -> int:
    """The most a database may hold when its store may use ``max_bytes`` of disk in all."""
    return (max_bytes - LOG_SLACK_BYTES) // 2


class SqliteJobStore:
    def __init__(self, path: str | Path, max_bytes: int | None = None) -> None:
        """Nothing is opened until ``open()`` (the sidecar's start). ``max_bytes``: the disk the
        store may use in all (database, log and index); None: as much as the disk has."""
        if max_bytes is not None and max_bytes < MIN_MAX_BYTES:
            raise ValueError(f"a background job store needs at least 16 MiB (got {max_bytes} bytes)")
        self.path = str(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._lock_file: IO[str] | None = None

    # --- the JobStore protocol: each statement in a worker thread ------------------------------

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    async def add(
        self, job_id: str, api: str, operation: str, request: bytes, metadata: tuple[tuple[str, str], ...]
    ) -> None:
        await asyncio.to_thread(self._add, job_id, api, operation, request, metadata)

    async def claim(self, limit: int) -> list[Job]:
        return await asyncio.to_thread(self._claim, limit)

    async def finish(self, job_id: str, state: str, response: bytes | None, error: bytes | None) -> None:
        await asyncio.to_thread(self._finish, job_id, state, response, error)

    async def requeue(self, job_id: str, delay: float) -> None:
        await asyncio.to_thread(self._requeue, job_id, delay)

    async def recover(self) -> int:
        return await asyncio.to_thread(self._recover)

    async def get(self, job_id: str) -> Job | None:
        return await asyncio.to_thread(self._get, job_id)

    async def next_due(self) -> float | None:
        return await asyncio.to_thread(self._next_due)

    async def counts(self) -> dict[str, int]:
        return await asyncio.to_thread(self._counts)

    async def prune(self, older_than: float) -> int:
        return await asyncio.to_thread(self._prune, older_than)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    # --- statements ---------------------------------------------------------------------------

    def _open(self) -> None:
        """Create or open the file; StartupError if it is unusable or another sidecar holds it."""
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # One sidecar per file: another one would run (and "recover") this one's jobs.
            self._lock_file = open(f"{self.path}.lock", "a")  # noqa: SIM115  # held until close()
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock_file.close()
                raise StartupError(f"{self.path} is in use by another sidecar (give each its own --jobs-db)") from None
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # an acknowledged job survives power loss
            db.execute(f"PRAGMA journal_size_limit={LOG_KEEP_BYTES}")
            if self.max_bytes is not None:  # per connection: set at every open
                page_size = db.execute("PRAGMA page_size").fetchone()[0]
                db.execute(f"PRAGMA max_page_count={database_cap(self.max_bytes) // page_size}")
            db.executescript(SCHEMA)
            self._db = db
        except (OSError, sqlite3.Error) as exc:
            raise StartupError(f"cannot open the background job store {self.path}: {exc}") from None

    def _execute(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        """One statement under the lock (callers hold it); SQLITE_FULL becomes JobStoreFull."""
        assert self._db is not None, "open() the store first"
        try:
            return self._db.execute(sql, args)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                raise JobStoreFull(f"the background job store {self.path} is full") from exc
            raise

    def _add(
        self, job_id: str, api: str, operation: str, request: bytes, metadata: tuple[tuple[str, str], ...]
    ) -> None:
        now = time.time()
        with self._lock:
            self._execute(
                "INSERT INTO jobs (id, state, api, operation, request, metadata, not_before, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, QUEUED, api, operation, request, json.dumps(metadata), now, now, now),
            )

    def _claim(self, limit: int) -> list[Job]:
        """Up to ``limit`` due queued jobs, oldest first, marked running."""
        now = time.time()
        with self._lock:
            self._execute("BEGIN IMMEDIATE")
            try:
                rows = self._execute(
                    "SELECT * FROM jobs WHERE state = ? AND not_before <= ? ORDER BY created_at LIMIT ?",
                    (QUEUED, now, limit),
                ).fetchall()
                for row in rows:
                    self._execute(
                        "UPDATE jobs SET state = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
                        (RUNNING, now, row[0]),
                    )
                self._execute("COMMIT")
            except BaseException:
                if self._db is not None and self._db.in_transaction:  # SQLITE_FULL may have ended it already
                    self._execute("ROLLBACK")
                raise
        return [_job(row, RUNNING, bump=True) for row in rows]

    def _finish(self, job_id: str, state: str, response: bytes | None, error: bytes | None) -> None:
        with self._lock:
            self._execute(
                "UPDATE jobs SET state = ?, response = ?, error = ?, updated_at = ? WHERE id = ?",
                (state, response, error, time.time(), job_id),
            )

    def _requeue(self, job_id: str, delay: float) -> None:
        now = time.time()
        with self._lock:
            self._execute(
                "UPDATE jobs SET state = ?, not_before = ?, updated_at = ? WHERE id = ?",
                (QUEUED, now + delay, now, job_id),
            )

    def _recover(self) -> int:
        """After a crash or restart: jobs left running are queued again (at least once)."""
        with self._lock:
            sql = "UPDATE jobs SET state = ?, updated_at = ? WHERE state = ?"
            return self._execute(sql, (QUEUED, time.time(), RUNNING)).rowcount

    def _get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def _next_due(self) -> float | None:
        with self._lock:
            row = self._execute("SELECT MIN(not_before) FROM jobs WHERE state = ?", (QUEUED,)).fetchone()
        return row[0] if row and row[0] is not None else None

    def _counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())

    def _prune(self, older_than: float) -> int:
        with self._lock:
            sql = "DELETE FROM jobs WHERE state IN (?, ?) AND updated_at < ?"
            return self._execute(sql, (*FINISHED, older_than)).rowcount

    def _close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def _job(row: tuple, state: str | None = None, bump: bool = False) -> Job:
    return Job(
        id=row[0],
        state=state or row[1],
        api=row[2],
        operation=row[3],
        request=row[4],
        metadata=tuple((str(k), str(v)) for k, v in json.loads(row[5])),
        attempts=row[6] + (1 if bump else 0),
        created_at=row[8],
        updated_at=row[9],
        response=row[10],
        error=row[11],
    )
