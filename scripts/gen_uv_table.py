"""Regenerate pipwrap/guard/uv_table.py from a real uv's help pages.

    python scripts/gen_uv_table.py PATH/TO/uv

tests/test_guard_uv.py compares the committed table with the uv the tests install, so a
uv release that adds or changes an option or variable fails a test until this is rerun
and the new names are classified in pipwrap/guard/uv.py and uv_env.py.
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
TARGET = HERE.parent / "pipwrap" / "guard" / "uv_table.py"

HEADER = '''"""uv's command tree and options, as its own help pages list them. Generated: do not edit.

Regenerate with ``python scripts/gen_uv_table.py PATH/TO/uv``. COMMANDS maps a command
path ("" for ``uv`` itself, "pip install", "tool run", ...) to its options, each mapped to
whether it takes a value. VARIABLES is every ``UV_*`` name the help pages mention.
"""

from __future__ import annotations

'''


def main(uv: str) -> int:
    from tests.support.uv_introspect import tree

    version, commands, variables = tree(uv)
    text = HEADER + f"VERSION = {version!r}\n\n"
    text += "COMMANDS: dict[str, dict[str, bool]] = "
    text += pprint.pformat(commands, width=96, compact=True) + "\n\n"
    text += "VARIABLES: frozenset[str] = frozenset(\n"
    text += pprint.pformat(sorted(variables), width=92, compact=True) + "\n)\n"
    TARGET.write_text(text)
    print(f"wrote {TARGET} for uv {version}: {len(commands)} commands, "
          f"{len(variables)} variables")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
