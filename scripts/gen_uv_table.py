"""Regenerate pipwrap/guard/uv_table.py from a real uv's help pages, or check it.

    python scripts/gen_uv_table.py PATH/TO/uv            write the table
    python scripts/gen_uv_table.py --check PATH/TO/uv    exit 1 with a diff if it differs

tests/differential/test_guard_uv.py runs the --check form against the uv the tests install, so a uv
release that adds or changes an option or variable fails a test until this is rerun and
the new names are classified in pipwrap/guard/uv.py and uv_env.py.
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
TARGET = HERE.parent / "pipwrap" / "guard" / "uv_table.py"

HEADER = '''"""uv's command tree and options, as its help pages list them. Generated: do not edit.

Regenerate with ``python scripts/gen_uv_table.py PATH/TO/uv`` (``--check`` compares). Each
option is ``(long names, short letters, takes a value)``, the first long name being the
one the guard classifies it by. COMMANDS maps a command path ("pip install", "tool run",
...) to indexes into OPTIONS: "" holds uv's global options, which every command accepts
too, and each other path only its own. TOP_LEVEL is what ``uv`` itself accepts besides
them (``--version``). VARIABLES is every ``UV_*`` name the help pages mention.
"""

from __future__ import annotations

'''


def render(uv: str) -> tuple[str, str]:
    """(the table's text, a one-line summary) for the uv at ``uv``."""
    from introspect.uv_introspect import tree

    version, pages, shared, variables = tree(uv)
    options: list[tuple[tuple[str, ...], str, bool]] = []
    index: dict[tuple[str, str, bool], int] = {}

    def ref(option: tuple[str, str, bool]) -> int:
        if option not in index:
            index[option] = len(options)
            long, short, takes = option
            options.append(((long,), short, takes))
        return index[option]

    commands = {"": tuple(ref(o) for o in pages[""] if o in shared)}
    top_level = tuple(ref(o) for o in pages[""] if o not in shared)
    for path, listed in pages.items():
        if path:
            commands[path] = tuple(ref(o) for o in listed if o not in shared)
    text = HEADER + f"VERSION = {version!r}\n\n"
    text += "OPTIONS: tuple[tuple[tuple[str, ...], str, bool], ...] = "
    text += pprint.pformat(tuple(options), width=96, compact=True) + "\n\n"
    text += "COMMANDS: dict[str, tuple[int, ...]] = "
    text += pprint.pformat(commands, width=96, compact=True) + "\n\n"
    text += f"TOP_LEVEL: tuple[int, ...] = {top_level!r}\n\n"
    text += "VARIABLES: frozenset[str] = frozenset(\n"
    text += pprint.pformat(sorted(variables), width=92, compact=True) + "\n)\n"
    summary = (f"uv {version}: {len(commands)} commands, {len(options)} options, "
               f"{len(variables)} variables")
    return text, summary


def main(argv: list[str]) -> int:
    check = argv[:1] == ["--check"]
    args = argv[1:] if check else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    from introspect.generated import write_or_check

    text, summary = render(args[0])
    return write_or_check(
        TARGET, text, summary, check=check,
        rerun=f"run scripts/gen_uv_table.py {args[0]}, then classify new options in "
              "pipwrap/guard/uv.py and variables in uv_env.py")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
