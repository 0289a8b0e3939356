"""Regenerate pipwrap/guard/pip_table.py from real pips (one venv per supported version),
or check it.

    python scripts/gen_pip_table.py VENV_PYTHON...           write the table
    python scripts/gen_pip_table.py --check VENV_PYTHON...   exit 1 with a diff if it differs

Each interpreter's pip is asked for its own option tables (introspect/pip_introspect.py,
run by that interpreter). tests/differential/test_guard_differential.py runs the --check
form against the pips of every version in the table, so the file cannot drift from its
generator, and a pip whose options changed fails a test until this is run again.
"""

from __future__ import annotations

import json
import pprint
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
INTROSPECT = HERE / "introspect" / "pip_introspect.py"
TARGET = HERE.parent / "pipwrap" / "guard" / "pip_table.py"

HEADER = '''"""pip's option tables, as the real pips reported them. Generated: do not edit.

Regenerate with ``python scripts/gen_pip_table.py VENV_PYTHON...``; the differential tests
run it with ``--check`` against the real pips. Each option is ``(long names, short
letters, dest, takes a value)``; each scope lists indexes into OPTIONS.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

'''


def render(pythons: list[str]) -> tuple[str, list[str]]:
    """(the table's text, the pip versions in it) for the pips of ``pythons``."""
    dumps = [json.loads(subprocess.run([p, "-I", str(INTROSPECT), "tables"], check=True,
                                       capture_output=True, text=True).stdout)
             for p in pythons]
    dumps.sort(key=lambda d: tuple(int(x) for x in d["version"].split(".")))
    options: list[tuple[tuple[str, ...], str, str, bool]] = []
    index: dict[tuple[tuple[str, ...], str, str, bool], int] = {}

    def ref(record: dict[str, object]) -> int:
        key = (tuple(record["long"]), str(record["short"]), str(record["dest"]),  # type: ignore[arg-type]
               bool(record["takes_value"]))
        if key not in index:
            index[key] = len(options)
            options.append(key)
        return index[key]

    versions = {}
    for dump in dumps:
        versions[dump["version"]] = {
            "general": tuple(ref(r) for r in dump["general"]),
            "reqfile": tuple(ref(r) for r in dump["reqfile"]),
            "commands": {name: tuple(ref(r) for r in records)
                         for name, records in dump["commands"].items()},
        }
    text = HEADER
    text += "OPTIONS: tuple[tuple[tuple[str, ...], str, str, bool], ...] = "
    text += pprint.pformat(tuple(options), width=96, compact=True) + "\n\n"
    text += "VERSIONS: dict[str, dict[str, Any]] = "
    text += pprint.pformat(versions, width=96, compact=True) + "\n"
    return text, list(versions)


def main(argv: list[str]) -> int:
    check = argv[:1] == ["--check"]
    pythons = argv[1:] if check else argv
    if not pythons:
        print(__doc__, file=sys.stderr)
        return 2
    from introspect.generated import write_or_check

    text, versions = render(pythons)
    return write_or_check(
        TARGET, text, f"pip {', '.join(versions)}", check=check,
        rerun="run scripts/gen_pip_table.py with the same interpreters, then classify new "
              "dests in pipwrap/guard/pip.py")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
