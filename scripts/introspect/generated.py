"""Write a generated table, or (``--check``) say how the committed one differs."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path


def write_or_check(target: Path, text: str, source: str, *, check: bool, rerun: str) -> int:
    """Write ``text`` to ``target``; with ``check``, compare instead: 0 when equal, else
    print a unified diff and ``rerun`` (what to do about it) and return 1."""
    if not check:
        target.write_text(text)
        print(f"wrote {target} for {source}")
        return 0
    committed = target.read_text()
    if committed == text:
        print(f"{target} is up to date for {source}")
        return 0
    sys.stdout.writelines(difflib.unified_diff(
        committed.splitlines(keepends=True), text.splitlines(keepends=True),
        f"{target.name} (committed)", f"{target.name} (from {source})"))
    print(f"\n{target} differs from what {source} reports: {rerun}", file=sys.stderr)
    return 1
