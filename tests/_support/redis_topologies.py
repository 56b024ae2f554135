"""Real highly available Redis set-ups on loopback, from Debian's ``redis-server``, with an ACL
user and TLS everywhere (nodes, cluster bus or replication, sentinels), started and stopped by tests:

- ``ClusterSet``: a 6-node Redis Cluster, 3 primaries and 3 replicas
  (``redis-cli --cluster create ... --cluster-replicas 1``), ``--cluster-node-timeout 2000``;
- ``SentinelSet``: 1 primary, 1 replica and 3 sentinels watching ``mymaster``.

``kill(port)`` is a SIGKILL; ``restart(port)`` starts that node again with its old settings.
Every command from a test goes through ``redis-cli`` with the same user, password and TLS files.
"""

from __future__ import annotations

import os
import pathlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence

USER = "fleet"
SERVICE = "mymaster"


def make_certificates(directory: pathlib.Path) -> pathlib.Path:
    """A self-signed certificate for 127.0.0.1 (also the CA and every client's certificate)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(directory / "key.pem"),
         "-out", str(directory / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    os.chmod(directory / "key.pem", 0o600)
    return directory


def free_ports(count: int, below: int = 55_535) -> list[int]:
    """``count`` free loopback ports whose cluster bus port (+10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20_000, below)
        if port in ports or not _free(port) or not _free(port + 10_000):
            continue
        ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_listening(port: int, hint: str = "") -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis on port {port} did not start; {hint}")


class _Nodes:
    def __init__(self, directory: pathlib.Path, password: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian package redis-server; tests/run.sh installs it)")
        self.binary = binary
        self.dir = directory
        self.password = password
        self.certs = make_certificates(directory)
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.args: dict[int, list[str]] = {}

    def tls_args(self) -> list[str]:
        cert, key = str(self.certs / "cert.pem"), str(self.certs / "key.pem")
        return ["--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert,
                "--tls-auth-clients", "yes", "--tls-replication", "yes"]  # fmt: skip

    def acl_args(self) -> list[str]:
        return ["--user", "default", "off", "--user", USER, "on", f">{self.password}", "~*", "&*", "+@all",
                "--masteruser", USER, "--masterauth", self.password]  # fmt: skip

    def launch(self, port: int, args: Sequence[str]) -> None:
        self.args[port] = list(args)
        self.restart(port)

    def restart(self, port: int) -> None:
        log = open(self.dir / f"{port}.log", "ab")  # noqa: SIM115 (the process keeps it)
        self.processes[port] = subprocess.Popen([self.binary, *self.args[port]], stdout=log, stderr=log)
        log.close()
        self.wait_listening(port)

    def wait_listening(self, port: int) -> None:
        wait_listening(port, f"see {self.dir}/{port}.log")

    def cli(self, port: int, *args: str, user: str | None = USER, timeout: float = 30) -> str:
        cert, key = str(self.certs / "cert.pem"), str(self.certs / "key.pem")
        auth = ["--user", user, "--pass", self.password] if user else []
        command = ["redis-cli", "--tls", "--cacert", cert, "--cert", cert, "--key", key, "-h", "127.0.0.1",
                   "-p", str(port), *auth, "--no-auth-warning", *args]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        return done.stdout + done.stderr

    def kill(self, port: int) -> float:
        """SIGKILL; returns when (monotonic)."""
        process = self.processes[port]
        process.kill()
        process.wait(10)
        return time.monotonic()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)

    def tls_settings(self) -> str:
        """The sidecar's redis.tls (YAML flow), with file:// references to the test certificates."""
        cert, key = self.certs / "cert.pem", self.certs / "key.pem"
        return f'{{ca_cert: "file://{cert}", client_cert: "file://{cert}", client_key: "file://{key}"}}'


class ClusterSet(_Nodes):
    """6 nodes, 3 primaries each with one replica, TLS (also on the cluster bus) and an ACL user."""

    def __init__(self, directory: pathlib.Path, password: str) -> None:
        super().__init__(directory, password)
        self.ports = free_ports(6)
        for port in self.ports:
            self.launch(port, [
                "--port", "0", "--tls-port", str(port), "--tls-cluster", "yes", *self.tls_args(), *self.acl_args(),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory),
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", "2000", "--protected-mode", "no", "--repl-diskless-sync-delay", "0",
            ])  # fmt: skip
        out = self.cli(
            self.ports[0], "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
            "--cluster-replicas", "1", "--cluster-yes", timeout=60,
        )  # fmt: skip
        if "[OK] All 16384 slots covered" not in out:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed: {out[-2000:]}")
        self.wait_healthy()
        self.wait_replicated()

    def wait_replicated(self, timeout: float = 30) -> None:
        """Until each primary has its replica online (a replica that never synced cannot take over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [self.cli(port, "INFO", "replication") for port in self.primaries()]
            if all("connected_slaves:1" in info and ",state=online" in info for info in infos):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster's replicas did not sync")

    def wait_healthy(self, timeout: float = 30, replaced: int | None = None) -> float:
        """Until every live node says cluster_state:ok and sees 3 primaries with slots (``replaced``
        not among them: a replica took over); returns when."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [p for p in self.ports if self.processes[p].poll() is None]
            primaries = self.primaries()
            if (
                len(primaries) == 3
                and replaced not in primaries
                and all("cluster_state:ok" in self.cli(p, "CLUSTER", "INFO") for p in live)
            ):
                return time.monotonic()
            time.sleep(0.1)
        raise RuntimeError("the cluster did not become healthy")

    def nodes_setting(self) -> str:
        return "[" + ", ".join(f'"127.0.0.1:{p}"' for p in self.ports[:3]) + "]"

    def primaries(self) -> dict[int, list[tuple[int, int]]]:
        """port -> its slot ranges, as a live node sees the cluster."""
        live = next(p for p in self.ports if self.processes[p].poll() is None)
        result: dict[int, list[tuple[int, int]]] = {}
        for line in self.cli(live, "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if len(fields) < 8 or "master" not in fields[2] or "fail" in fields[2]:
                continue
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            ranges = [tuple(int(x) for x in r.split("-")) if "-" in r else (int(r), int(r)) for r in fields[8:]]
            if ranges:
                result[port] = [(a, b) for a, b in ranges]
        return result

    def owner(self, key: str) -> int:
        """The port of the primary that owns ``key``'s slot."""
        slot = int(self.cli(self.ports[0], "CLUSTER", "KEYSLOT", key).strip())
        for port, ranges in self.primaries().items():
            if any(a <= slot <= b for a, b in ranges):
                return port
        raise RuntimeError(f"no primary owns slot {slot}")

    def command(self, key: str, *args: str) -> str:
        """A command on the primary that owns ``key``."""
        return self.cli(self.owner(key), *args)


class SentinelSet(_Nodes):
    """A primary, one replica and three sentinels (quorum 2), TLS and an ACL user everywhere; the
    sentinels also require ``sentinel_password``."""

    def __init__(self, directory: pathlib.Path, password: str, sentinel_password: str) -> None:
        super().__init__(directory, password)
        self.sentinel_password = sentinel_password
        ports = free_ports(5)
        self.data_ports, self.sentinel_ports = ports[:2], ports[2:]
        primary, replica = self.data_ports
        common = ["--port", "0", *self.tls_args(), *self.acl_args(), "--bind", "127.0.0.1", "--save", "",
                  "--repl-diskless-sync-delay", "0",
                  "--appendonly", "no", "--dir", str(directory), "--protected-mode", "no"]  # fmt: skip
        self.launch(primary, ["--tls-port", str(primary), *common])
        self.launch(replica, ["--tls-port", str(replica), *common, "--replicaof", "127.0.0.1", str(primary)])
        cert, key = self.certs / "cert.pem", self.certs / "key.pem"
        for port in self.sentinel_ports:
            conf = directory / f"sentinel-{port}.conf"
            conf.write_text(
                f"port 0\ntls-port {port}\nbind 127.0.0.1\ndir {directory}\nprotected-mode no\n"
                f"tls-cert-file {cert}\ntls-key-file {key}\ntls-ca-cert-file {cert}\ntls-auth-clients yes\n"
                f"tls-replication yes\nrequirepass {sentinel_password}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
                f"sentinel auth-user {SERVICE} {USER}\nsentinel auth-pass {SERVICE} {password}\n"
                f"sentinel sentinel-pass {sentinel_password}\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\nsentinel failover-timeout {SERVICE} 4000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self.launch(port, [str(conf), "--sentinel"])
        self.wait_replicated(primary)

    def sentinel_cli(self, *args: str) -> str:
        return self.cli(self.sentinel_ports[0], "-a", self.sentinel_password, *args, user=None)

    def primary(self) -> int:
        """The port the sentinels call the primary now."""
        out = self.sentinel_cli("SENTINEL", "get-master-addr-by-name", SERVICE).split()
        return int(out[1])

    def wait_replicated(self, primary: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.cli(primary, "INFO", "replication")
            sentinels = self.sentinel_cli("SENTINEL", "sentinels", SERVICE).count("127.0.0.1")
            if "connected_slaves:1" in info and ",state=online" in info and sentinels >= 2:
                return
            time.sleep(0.1)
        raise RuntimeError("the sentinel set-up did not come up: replica or sentinels missing")

    def wait_promoted(self, old: int, timeout: float = 30) -> tuple[int, float]:
        """Until the sentinels name another primary and it answers as one: (its port, when)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                port = self.primary()
            except (ValueError, IndexError):
                port = old
            if port != old and "role:master" in self.cli(port, "INFO", "replication"):
                return port, time.monotonic()
            time.sleep(0.05)
        raise RuntimeError("no replica was promoted")

    def nodes_setting(self) -> str:
        return "[" + ", ".join(f'"127.0.0.1:{p}"' for p in self.sentinel_ports) + "]"


class PlainCluster:
    """A Redis Cluster of ``primaries`` nodes without replicas, TLS or ACL (for benchmarks): with one
    primary it holds all 16384 slots itself; with more, ``redis-cli --cluster create`` spreads them."""

    def __init__(self, directory: pathlib.Path, primaries: int) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian package redis-server)")
        self.ports = free_ports(primaries)
        self.processes: list[subprocess.Popen[bytes]] = []
        for port in self.ports:
            self.processes.append(subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(directory), "--cluster-enabled", "yes", "--cluster-config-file", f"plain-{port}.conf",
                 "--protected-mode", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            wait_listening(port)
        if primaries == 1:
            self.cli(self.ports[0], "CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        else:
            out = self.cli(self.ports[0], "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                           "--cluster-replicas", "0", "--cluster-yes")  # fmt: skip
            if "[OK] All 16384 slots covered" not in out:
                self.stop()
                raise RuntimeError(f"redis-cli --cluster create failed: {out[-2000:]}")
        deadline = time.monotonic() + 30
        while not all("cluster_state:ok" in self.cli(p, "CLUSTER", "INFO") for p in self.ports):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the cluster did not become healthy")
            time.sleep(0.1)

    def cli(self, port: int, *args: str) -> str:
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        return done.stdout + done.stderr

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
