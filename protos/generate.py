"""Regenerate client/custom_api_client/proto from protos/ (the single source of truth).

    python protos/generate.py          # write the generated modules
    python protos/generate.py --check  # exit 1 if they are out of date

grpc_tools emits absolute imports (``from custom_api_sidecar.v1 import ...``);
we rewrite them to package-relative ones so ``custom_api_client.proto`` imports without
sys.path changes. Output depends only on the pinned grpcio-tools version.
"""

from __future__ import annotations

import argparse
import difflib
import pathlib
import re
import sys
import tempfile

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PROTO = "custom_api_sidecar/v1/sidecar.proto"
OUT = ROOT / "client" / "custom_api_client" / "proto"
GENERATED = ("sidecar_pb2.py", "sidecar_pb2.pyi", "sidecar_pb2_grpc.py")


def _generate(into: pathlib.Path) -> dict[str, str]:
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={into}",
            f"--pyi_out={into}",
            f"--grpc_python_out={into}",
            str(PROTO_ROOT / PROTO),
        ]
    )
    if rc != 0:
        raise SystemExit(f"protoc failed with exit code {rc}")
    files = {}
    for name in GENERATED:
        text = (into / "custom_api_sidecar" / "v1" / name).read_text()
        text = re.sub(r"^from custom_api_sidecar\.v1 import ", "from . import ", text, flags=re.M)
        files[name] = text
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if out of date")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = _generate(pathlib.Path(tmp))
    stale = []
    for name, text in files.items():
        path = OUT / name
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        stale.append(name)
        if args.check:
            sys.stdout.writelines(
                difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(path), "regenerated")
            )
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print(f"generated code is stale: {', '.join(stale)}; run python protos/generate.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
