"""The package's import layers: no import cycles between modules, and the config model at the
bottom. The loader and the operator policy sit above ``egress`` and ``openapi`` and import them,
never the reverse (issue 20 untangled a circle of 11 files through ``config``)."""

from __future__ import annotations

import ast
import pathlib

import custom_api_sidecar

ROOT = pathlib.Path(custom_api_sidecar.__file__).parent
PACKAGE = "custom_api_sidecar"


def _modules() -> dict[str, pathlib.Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(modules: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    """Module -> the sidecar modules it imports (lazy imports inside functions included, since
    they run too), plus the packages an import loads on the way (their ``__init__``)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
                target = ".".join([*base, node.module] if node.module else base) if node.level else node.module or ""
                targets = [target, *(f"{target}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                while target.startswith(PACKAGE + ".") and target != name and not name.startswith(target + "."):
                    if target in modules:
                        graph[name].add(target)
                    target = target.rpartition(".")[0]
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_imports(_modules())) == []


def test_the_config_model_is_the_bottom_layer() -> None:
    graph = _imports(_modules())
    above = ("loader", "policy", "egress", "openapi", "registry", "app", "pipeline")
    for name, imported in graph.items():
        if name.startswith(f"{PACKAGE}.config"):
            wrong = {m for m in imported if m.split(".")[1] in above}
            assert not wrong, f"{name} imports {sorted(wrong)}"


def test_egress_and_openapi_never_import_the_loader_or_the_policy() -> None:
    graph = _imports(_modules())
    for name, imported in graph.items():
        if name.split(".")[1:2] in (["egress"], ["openapi"]):
            wrong = {m for m in imported if m.split(".")[1] in ("loader", "policy")}
            assert not wrong, f"{name} imports {sorted(wrong)}"
