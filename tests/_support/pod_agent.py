"""The agent of the pod test, run inside the sidecar's own image (it has ``custom_api_client``)
as ``python -c <this file>``: a background call, the wait for its job, and a look at what the
agent container can see. Prints one ``AGENT-RESULT <json>`` line, then stays up (a Deployment's
container that exits is started again)."""

from __future__ import annotations

import hashlib
import json
import os
import time

SOCKET_DIR = os.path.dirname(os.environ["CUSTOM_API_SIDECAR"].removeprefix("unix://"))
SIZE = int(os.environ["AGENT_RESPONSE_BYTES"])
SKIP = ("/proc", "/sys", "/dev")


def databases_in_sight() -> list[str]:
    """Every SQLite-looking file anywhere in this container's filesystem."""
    found = []
    for folder, subfolders, files in os.walk("/"):
        subfolders[:] = [d for d in subfolders if os.path.join(folder, d) not in SKIP]
        found += [os.path.join(folder, f) for f in files if ".sqlite" in f or f.endswith((".db", "-wal", "-shm"))]
    return sorted(found)


def main() -> dict[str, object]:
    from custom_api_client import connect

    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(SOCKET_DIR, "sidecar.sock")):
        if time.monotonic() > deadline:
            return {"error": "no sidecar socket after 120 s"}
        time.sleep(0.2)
    with connect(conversation_id="pod-test") as conv:  # CUSTOM_API_SIDECAR, from the chart
        accepted = conv.api.files.download(str(SIZE), background=True)
        job = conv.api.jobs.wait(accepted.job_id, timeout=120)
    body = job.response.content if job.response is not None else b""
    return {
        "accepted": accepted.status_code,
        "job_id": accepted.job_id,
        "state": job.state,
        "error": repr(job.error) if job.error else None,
        "status": job.response.status_code if job.response is not None else None,
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "socket_dir": sorted(os.listdir(SOCKET_DIR)),
        "databases": databases_in_sight(),
    }


try:
    result = main()
except Exception as exc:  # reported to the test, which shows it
    result = {"error": repr(exc)}
print("AGENT-RESULT " + json.dumps(result), flush=True)
time.sleep(3600)
