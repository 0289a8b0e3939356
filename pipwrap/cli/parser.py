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

Get started (as README's quick start; the built-in `local` profile points at serve):
  eval "$(pipwrap init bash)"                         in ~/.bashrc (zsh, fish: init --help)
  pipwrap repo add dist/*                             host your packages: a static index
  pipwrap serve &                                     http://127.0.0.1:8080/simple/
  wrap pip install foo                                from your index, and only from there

Your team's index:
  pipwrap add corp https://pkgs.corp.example/simple/  the first one added is the default
  pipwrap test                                        can pip use each profile's index?
  PIPWRAP_PROFILE=local wrap pip install bar          another profile, for one command
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

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        # A nested command's unknown action (`pipwrap repo ad`) reads as a top-level typo
        # does, with a suggestion, instead of argparse's "invalid choice" and usage.
        if (isinstance(action, argparse._SubParsersAction) and action.choices is not None
                and value not in action.choices):
            listed = [a.dest for a in action._choices_actions]
            command = self.prog.removeprefix("pipwrap ")
            kind = "action" if action.metavar == "ACTION" else "subcommand"
            raise PipwrapError(f"unknown {command} {kind} {value!r}{_suggestion(value, listed)}"
                               f"\n{kind}s: {', '.join(listed)} (see {self.prog} --help)")
        super()._check_value(action, value)


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
    known = public()
    raise PipwrapError(f"unknown command {word!r}{_suggestion(word, known)}\n"
                       f"commands: {', '.join(known)} (see pipwrap --help)")


def _suggestion(word: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def completion_data() -> dict[str, Any]:
    """What the shells' completion code is generated from: public commands with their
    summaries and long options, the commands that take a profile name, and the actions
    of nested commands (``repo``, ``config``) with their summaries.

    ``options`` is keyed by the command, or by "command action" for a nested one.
    """
    parsers = _subparsers(build_parser())
    names = public()
    options: dict[str, list[str]] = {}
    nested: dict[str, dict[str, str]] = {}
    for name in names:
        options[name] = _long_options(parsers[name])
        actions = _subparsers(parsers[name])
        for action_name, child in actions.items():  # aliases included: `repo ls --json`
            options[f"{name} {action_name}"] = _long_options(child)
        if actions:
            nested[name] = {choice.dest: choice.help or ""
                            for choice in _choice_helps(parsers[name])}
    return {
        "commands": {name: COMMANDS[name].summary for name in names},
        "options": options,
        "profile_commands": profile_commands(),
        "nested": nested,
    }


def _long_options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(o for a in parser._actions for o in a.option_strings if o.startswith("--"))


def _choice_helps(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """A nested command's actions as its help lists them: one per action, aliases aside."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action._choices_actions)
    return []
