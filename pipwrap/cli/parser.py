"""The argparse parser, built from the command table; what completion needs of it."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from pipwrap import __version__
from pipwrap.cli.registry import COMMANDS, profile_commands, public
from pipwrap.errors import PipwrapError

DESCRIPTION = """\
Run pip, uv and friends against one of your package indexes, one command at a time,
with nothing else slipping in.

Get started:
  pipwrap add local http://127.0.0.1:8080/simple/   the first profile is the default
  pipwrap test                                      can pip use that index?
  eval "$(pipwrap init bash)"                       in ~/.bashrc (zsh, fish: init --help)
  wrap pip install foo                              then, in a new shell
  PIPWRAP_PROFILE=corp wrap pip install bar         another profile, for one command

Host your own packages (the built-in `local` profile points at `serve`):
  pipwrap repo add dist/*                           a PEP 503 tree with a static index
  pipwrap serve                                     local-first, falls back to PyPI
"""

EPILOG = """\
config: $PIPWRAP_CONFIG, else ~/.config/pipwrap/config.toml (see `pipwrap init --help`).
exit status: the wrapped command's own; 2 for bad input (arguments, config, profile);
3 when a command is refused because it would add a second package source.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"pipwrap: error: {message}\n")


def command_module(name: str) -> Any:
    """The module that defines and runs command ``name`` (imported now)."""
    return importlib.import_module(f"pipwrap.commands.{COMMANDS[name].module}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; ``only``: the arguments of that one command alone (the others are
    listed, so help and errors read the same, but their modules are not imported)."""
    parser = _Parser(
        prog="pipwrap", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pipwrap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, command in COMMANDS.items():
        if command.hidden:
            # Internal commands are parsed but never listed: argparse shows every entry
            # that has a help text, so these get none.
            child = sub.add_parser(name)
        else:
            child = sub.add_parser(name, aliases=list(command.aliases), help=command.summary)
        if only is None or only == name:
            command_module(name).add_arguments(child, name)
    return parser


def check_command(word: str) -> None:
    """An unknown subcommand: say so with a suggestion, not argparse's list of choices
    (which would include the internal ones)."""
    from pipwrap.cli.registry import canonical

    if word.startswith("-") or canonical(word) is not None:
        return
    import difflib

    known = public()
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise PipwrapError(f"unknown command {word!r}{hint}\n"
                       f"commands: {', '.join(known)} (see pipwrap --help)")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}  # pragma: no cover


def completion_data() -> dict[str, Any]:
    """What the shells' completion code is generated from: public commands with their
    summaries and long options, and the commands that take a profile name."""
    parsers = _subparsers(build_parser())
    names = public()
    return {
        "commands": {name: COMMANDS[name].summary for name in names},
        "options": {name: sorted(o for a in parsers[name]._actions for o in a.option_strings
                                 if o.startswith("--")) for name in names},
        "profile_commands": profile_commands(),
    }
