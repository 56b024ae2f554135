"""``custom-api-sidecar import-openapi``: a spec in, a config file for a person to review out."""

from __future__ import annotations

import argparse
import keyword
import pathlib
import sys
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..config._model import IDENTIFIER, RESERVED_API_NAMES
from . import BrokenOperations, EntryCheck, ImportResult, SpecError, import_spec
from ._load import DEFAULT_TIMEOUT_SECONDS
from ._yaml_text import block_style, plain_yaml

COMMAND = "import-openapi"


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        COMMAND,
        help="import an OpenAPI 3.x / Swagger 2.0 spec as a config file to review",
        description="Writes the operations of SPEC as one API entry of a config file (YAML). "
        "A summary of what was imported and skipped goes to stderr.",
    )
    parser.add_argument("spec", help="spec file or http(s) URL, JSON or YAML")
    parser.add_argument("--name", required=True, help="the API name agents use: conv.api.<NAME>")
    parser.add_argument("--base-url", help="base URL of the API (default: the spec's servers / host + basePath)")
    parser.add_argument(
        "--include", action="append", default=[], metavar="TAG_OR_OP", help="import only these; repeatable"
    )
    parser.add_argument("--exclude", action="append", default=[], metavar="TAG_OR_OP", help="leave these out")
    parser.add_argument(
        "--allow-private-network", action="store_true", help="allow fetching the spec from a private/loopback address"
    )
    parser.add_argument("--allow-http", action="store_true", help="allow fetching the spec over plain http")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds to fetch a spec URL (default 10)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse the spec if any operation cannot be imported (default: skip it, with a warning)",
    )
    parser.add_argument("-o", "--output", required=True, help="config file to write ('-' for stdout)")
    parser.add_argument("--force", action="store_true", help="overwrite the output file if it exists")


def run(args: argparse.Namespace, check: EntryCheck | None = None) -> int:
    """``check``: the loader's own check of one entry (the caller passes it: this package never
    imports the loader), so no operation is written that the config would then refuse."""
    problem = _check_arguments(args)
    if problem:
        print(f"custom-api-sidecar {COMMAND}: {problem}", file=sys.stderr)
        return 2
    try:
        result = import_spec(
            args.spec,
            name=args.name,
            base_url=args.base_url,
            include=args.include,
            exclude=args.exclude,
            allow_private_network=args.allow_private_network,
            allow_http=args.allow_http,
            timeout=args.timeout,
            check=check,
            strict=args.strict,
        )
    except BrokenOperations as exc:
        print(
            f"custom-api-sidecar {COMMAND}: --strict: {len(exc.operations)} operation(s) cannot be imported; "
            "nothing written",
            file=sys.stderr,
        )
        for operation, why in exc.operations:
            print(f"  {operation}: {why}", file=sys.stderr)
        return 1
    except SpecError as exc:
        print(f"custom-api-sidecar {COMMAND}: {exc}", file=sys.stderr)
        return 1
    print(result.report.summary(), file=sys.stderr)
    if result.base_url is None:
        print(f"custom-api-sidecar {COMMAND}: the spec names no usable server; give --base-url URL", file=sys.stderr)
        return 1
    if not result.api["endpoints"]:
        print(f"custom-api-sidecar {COMMAND}: no operation could be imported; nothing written", file=sys.stderr)
        return 1
    _carry_opt_ins(result, args)
    text = render(result)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w" if args.force else "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        print(f"custom-api-sidecar {COMMAND}: {args.output} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"custom-api-sidecar {COMMAND}: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: review it, then run `custom-api-sidecar validate {args.output}`", file=sys.stderr)
    return 0


def _carry_opt_ins(result: ImportResult, args: argparse.Namespace) -> None:
    """The base URL needs what fetching the spec needed (plain http, a private address):
    carry the opt-ins the user gave on the command line into the API, and say so."""
    from ..egress import literal_address, non_public_reason

    connection = result.api.get("connection") or {}
    parts = urlsplit(connection.get("base_url", ""))
    address = literal_address(parts.hostname or "")
    opt_ins = {}
    if parts.scheme == "http" and args.allow_http:
        opt_ins["allow_http"] = True
    if address is not None and non_public_reason(address) and args.allow_private_network:
        opt_ins["private_network"] = True
    if opt_ins:
        result.api["connection"] = {**opt_ins, **connection}
        print(f"note: connection.{' and '.join(opt_ins)} set, as on the command line", file=sys.stderr)


def _check_arguments(args: argparse.Namespace) -> str:
    if not IDENTIFIER.fullmatch(args.name) or keyword.iskeyword(args.name) or args.name in RESERVED_API_NAMES:
        return f"--name {args.name!r} must be a snake_case identifier (a-z, 0-9, _), not a keyword or list/schema/tools"
    if args.base_url is not None:
        parts = urlsplit(args.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            return f"--base-url {args.base_url!r} must be an absolute http(s) URL without query or fragment"
    if args.output != "-" and not args.force and pathlib.Path(args.output).exists():
        return f"{args.output} exists; pass --force to overwrite it"
    if args.timeout <= 0:
        return "--timeout must be positive"
    return ""


def render(result: ImportResult) -> str:
    """The config file text: the API entry under ``apis:``, keys in a fixed order."""
    report = result.report
    header = [
        f"# Imported by `custom-api-sidecar {COMMAND}` from {report.source}",
        f"# ({report.version_label()}; {len(report.imported)} of {report.operations_in_spec} operations).",
        "# Review before use: descriptions are what agents and LLMs read to decide when to call an operation.",
    ]
    if "authentication" in result.api:
        header.append("# authentication: point each secret reference at your secret store (vault://, env://, file://).")
    data = {"apis": [result.api]}
    body = plain_yaml(data, _def_names(result.api), width=120)  # as yaml.dump writes, 5x faster (_yaml_text)
    if body is None:
        body = yaml.dump(data, Dumper=_dumper_for(result.api), sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + body


def _def_names(api: dict[str, Any]) -> dict[int, str]:
    def_names: dict[int, str] = {}
    for endpoint in api.get("endpoints", ()):
        for key in ("request_body", "response_schema"):
            for name, schema in ((endpoint.get(key) or {}).get("$defs") or {}).items():
                def_names.setdefault(id(schema), name)
        for param in endpoint.get("parameters", ()):
            for name, schema in (param.get("schema", {}).get("$defs") or {}).items():
                def_names.setdefault(id(schema), name)
    return def_names


def _dumper_for(api: dict[str, Any]) -> type[yaml.SafeDumper]:
    """Plain YAML for people. A schema def shared by several operations is written once, anchored
    by its name (``Pet: &Pet``) and referred to after that (``Pet: *Pet``): a spec whose schemas all
    reach each other would otherwise be copied into every operation. Nothing else is aliased."""
    def_names = _def_names(api)

    class Dumper(yaml.SafeDumper):
        node_names: dict[int, str] = {}

        def ignore_aliases(self, data: Any) -> bool:
            return id(data) not in def_names

        def represent_dict(self, data: Any) -> yaml.MappingNode:
            node = super().represent_dict(data)
            if id(data) in def_names:
                self.node_names[id(node)] = def_names[id(data)]
            return node

        def generate_anchor(self, node: yaml.Node) -> str:
            return self.node_names.get(id(node)) or str(super().generate_anchor(node))

    Dumper.node_names = {}
    Dumper.add_representer(dict, Dumper.represent_dict)
    Dumper.add_representer(str, _str)
    return Dumper


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=block_style(value))
