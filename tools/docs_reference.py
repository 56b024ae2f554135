"""Write the reference pages in docs/reference/ from the code they document.

    python tools/docs_reference.py          # write the pages
    python tools/docs_reference.py --check  # exit 1 if a page is out of date (prints the diff)

Every page comes from a source of truth in the code (the loader's key tables, argparse, the
proto, the metric instruments, values.yaml, docstrings); a key, flag or metric without a
description fails the generation instead of producing a page with a hole in it.
"""

from __future__ import annotations

import argparse
import difflib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Document this checkout's code, whatever an installed copy of the packages says.
for source_root in (ROOT / "client", ROOT / "sidecar", ROOT):
    if str(source_root) not in sys.path:
        sys.path.insert(0, str(source_root))

from tools.reference import pages  # noqa: E402  (after the source roots are on the path)

OUT = ROOT / "docs" / "reference"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is out of date")
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help=f"directory to write (default {OUT})")
    args = parser.parse_args(argv)
    rendered = pages.render_all()
    stale = []
    for name, text in rendered.items():
        path = args.out / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == text:
            continue
        stale.append(name)
        if args.check:
            sys.stdout.writelines(
                difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(path), "regenerated")
            )
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"reference pages out of date: {', '.join(stale)}; run python tools/docs_reference.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
