"""``file:///abs/path[#field]``: a value from a file (a mounted Kubernetes secret, a
Vault Agent sink). Without ``#field`` the file is the value, less one trailing newline;
with it the file is JSON or YAML and the field is one top-level key."""

from __future__ import annotations

import json
import pathlib

import yaml

from ._reference import SecretRef
from ._source import Fetched, SecretUnavailable, select_field


class FileSource:
    async def start(self) -> None:
        pass

    def fetch(self, ref: SecretRef) -> Fetched:
        path = pathlib.Path(ref.location)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SecretUnavailable(f"{ref.text}: file {path} does not exist") from None
        except IsADirectoryError:
            raise SecretUnavailable(f"{ref.text}: {path} is a directory") from None
        except PermissionError:
            raise SecretUnavailable(f"{ref.text}: no permission to read {path}") from None
        except OSError as exc:
            raise SecretUnavailable(f"{ref.text}: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SecretUnavailable(f"{ref.text}: {path} is not UTF-8 text") from None
        if ref.field is None:
            value = text.removesuffix("\n").removesuffix("\r")
            if not value:
                raise SecretUnavailable(f"{ref.text}: file {path} is empty")
            return Fetched(value)
        return Fetched(select_field(ref, _structured(ref, path, text), f"file {path}"))

    async def aclose(self) -> None:
        pass


def _structured(ref: SecretRef, path: pathlib.Path, text: str) -> object:
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        # The parser's message may quote the file's content: say only where it broke.
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise SecretUnavailable(f"{ref.text}: file {path} is not valid {kind}") from None
