"""Regenerate pipwrap/guard/pip_table.py from real pips (one venv per supported version).

    python scripts/gen_pip_table.py VENV_PYTHON...

Each interpreter's pip is asked for its own option tables (tests/support/pip_introspect.py).
tests/test_guard_differential.py checks the committed table against the same pips, so a
pip release that adds or changes an option fails a test until this is run again.
"""

from __future__ import annotations

import json
import pprint
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INTROSPECT = HERE.parent / "tests" / "support" / "pip_introspect.py"
TARGET = HERE.parent / "pipwrap" / "guard" / "pip_table.py"

HEADER = '''"""pip's option tables, as the real pips reported them. Generated: do not edit.

Regenerate with ``python scripts/gen_pip_table.py VENV_PYTHON...``; the differential tests
compare this file with the real pips. Each option is ``(long names, short letters, dest,
takes a value)``; each scope lists indexes into OPTIONS.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

'''


def main(pythons: list[str]) -> int:
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
    TARGET.write_text(text)
    print(f"wrote {TARGET} for pip {', '.join(versions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
