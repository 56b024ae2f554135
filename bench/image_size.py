"""What each dependency adds to an environment, in bytes on disk.

    python -m bench.image_size                     # the environment this Python runs in
    python -m bench.image_size --top 15            # the 15 largest distributions only
    podman run --rm --entrypoint /opt/custom-api-sidecar/bin/python IMAGE -m bench.image_size  # (copy it in)

Two tables. Per distribution: the files its RECORD lists (what ``pip uninstall`` would remove).
Per direct requirement of custom-api-sidecar: what leaving it out would save, that is its own
size plus every dependency nothing else needs (its exclusive closure). Only the standard library
is used, so it runs inside the image's environment too.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import pathlib
import re

PROJECT = "custom-api-sidecar"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> tuple[str, str | None]:
    """The distribution a requirement string names, and the extra its marker asks for (if any)."""
    name = canonical(re.split(r"[\s;\[<>=!~(]", requirement, maxsplit=1)[0])
    extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", requirement)
    return name, extra.group(1) if extra else None


def installed() -> dict[str, md.Distribution]:
    return {canonical(d.metadata["Name"]): d for d in md.distributions()}


def size_of(dist: md.Distribution) -> int:
    total = 0
    for file in dist.files or ():
        path = pathlib.Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def dependencies(dist: md.Distribution) -> set[str]:
    """What ``dist`` requires whatever extras it was installed with (its extras are not followed)."""
    names = set()
    for requirement in dist.requires or ():
        name, extra = requirement_name(requirement)
        if extra is None:
            names.add(name)
    return names


def closure(roots: set[str], dists: dict[str, md.Distribution]) -> set[str]:
    seen: set[str] = set()
    todo = [r for r in roots if r in dists]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(d for d in dependencies(dists[name]) if d in dists and d not in seen)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=0, help="list only the N largest distributions")
    args = parser.parse_args()
    dists = installed()
    sizes = {name: size_of(d) for name, d in dists.items()}
    total = sum(sizes.values())
    ranked = sorted(sizes.items(), key=lambda item: -item[1])
    print(f"{'distribution':42} {'MB':>7}")
    for name, size in ranked[: args.top or None]:
        print(f"{name:42} {size / 1e6:7.1f}")
    print(f"{'total (' + str(len(sizes)) + ' distributions)':42} {total / 1e6:7.1f}")

    project = dists.get(PROJECT)
    if project is None:
        return
    direct: dict[str, str] = {}  # requirement -> the extra it belongs to ("" for the base)
    for requirement in project.requires or ():
        name, extra = requirement_name(requirement)
        if name in dists:
            direct.setdefault(name, extra or "")
    print(f"\n{'direct requirement':42} {'extra':10} {'MB saved without it':>20}")
    rows = []
    for name, extra in direct.items():
        exclusive = closure({name}, dists) - closure(set(direct) - {name}, dists)
        rows.append((sum(sizes[d] for d in exclusive), name, extra, sorted(exclusive - {name})))
    for size, name, extra, also in sorted(rows, reverse=True):
        extras = f"  (+ {', '.join(also)})" if also else ""
        print(f"{name:42} {extra:10} {size / 1e6:20.1f}{extras}")


if __name__ == "__main__":
    main()
