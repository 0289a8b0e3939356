"""``pipwrap _state SHELL --pid N`` (internal): the state the shell function caches."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("shell", choices=("bash", "zsh", "fish"))
    parser.add_argument("--pid", type=int, required=True)


def run(args: argparse.Namespace) -> int:
    return refresh(args.shell, args.pid)


def refresh(shell: str, pid: int) -> int:
    from pipwrap.profiles.dirfile import NotAllowed
    from pipwrap.shell import state
    from pipwrap.shell.dialect import dialect

    try:
        sys.stdout.write(state.render(shell, pid, os.environ))
    except NotAllowed as exc:
        # Still a failure (the message goes to stderr, `wrap` stops), but the shell's prompt
        # learns which file blocks: it shows a mark and says so once after a `cd`.
        sys.stdout.write(dialect(shell).assign("__pipwrap_blocked", exc.path) + "\n")
        raise
    return 0
