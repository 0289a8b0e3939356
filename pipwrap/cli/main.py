"""``pipwrap``'s entry point: find the command, parse its arguments, run it.

The reading commands and ``check`` in their plain forms skip even argparse (see
:func:`_without_argparse`): shells, prompts and ``wrap`` itself run them often. Every new
shell runs ``init``: its code is served from a cache (:func:`_cached_init`).
"""

from __future__ import annotations

import os
import sys

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def _without_argparse(argv: list[str]) -> Callable[[], int] | None:
    """The handler for a few command lines given exactly as matched here, or None.

    Building the argparse parser costs more than these commands' own work, so the forms
    that shells, prompts and ``wrap`` itself run often are matched by hand: ``list`` and
    ``current`` (with or without ``--json``), ``_names``, ``_state SHELL --pid N`` and
    ``check -- COMMAND...``.
    Anything else (``--help``, an abbreviation, a typo) goes to argparse, which stays the
    one definition of the CLI.
    """
    if argv[:2] == ["check", "--"] and len(argv) > 2:
        from pipwrap.commands import check

        return lambda: check.check_argv(argv[2:])
    if argv[:2] == ["check", "--function-body"] and argv[3:4] == ["--"] and len(argv) > 4:
        from pipwrap.commands import check

        return lambda: check.check_argv(argv[4:], function_body=argv[2])
    if (len(argv) == 4 and argv[0] == "_state" and argv[1] in ("bash", "zsh", "fish")
            and argv[2] == "--pid" and argv[3].isdigit()):
        # The shell's own refresh, run whenever an input of `wrap` changed.
        from pipwrap.commands import state

        return lambda: state.refresh(argv[1], int(argv[3]))
    if argv not in (["list"], ["list", "--json"], ["ls"], ["ls", "--json"], ["current"],
                    ["current", "--json"], ["_names"]):
        return None
    from pipwrap.commands import listing

    as_json = argv[1:] == ["--json"]
    if argv[0] in ("list", "ls"):
        return lambda: listing.list_profiles(as_json=as_json)
    if argv[0] == "current":
        return lambda: listing.current(as_json=as_json)
    return listing.names


def _init_inputs(argv: list[str]) -> tuple[str, str, bool] | None:
    """(shell, --cmd, completion) of ``init SHELL [--cmd NAME] [--no-completion]`` given in
    full, in any order; None for anything else (help, abbreviations, errors: argparse's)."""
    if argv[:1] != ["init"]:
        return None
    shell = None
    command = None
    completion = True
    rest = argv[1:]
    while rest:
        word = rest.pop(0)
        if word == "--no-completion" and completion:
            completion = False
        elif word == "--cmd" and command is None and rest:
            command = rest.pop(0)
        elif word.startswith("--cmd=") and command is None:
            command = word[len("--cmd="):]
        elif word in ("bash", "zsh", "fish") and shell is None:
            shell = word
        else:
            return None
    if shell is None:
        return None
    return shell, "wrap" if command is None else command, completion


def _cached_init(argv: list[str]) -> bool:
    """Write the kept ``init`` code for ``argv`` and say True, or False to render it.

    A new shell waits for this: Python's start-up plus about a millisecond here, where
    rendering costs ~100 ms (``shell/snippet_cache.py`` says what keeps it fresh).
    """
    inputs = _init_inputs(argv)
    if inputs is None:
        return False
    from pipwrap.shell import snippet_cache

    if not snippet_cache.valid_command(inputs[1]):
        return False
    code = snippet_cache.lookup(*inputs)
    if code is None:
        return False
    binary = getattr(sys.stdout, "buffer", None)  # none when redirected to a StringIO
    if binary is None:
        sys.stdout.write(code.decode("utf-8", errors="surrogateescape"))
    else:
        sys.stdout.flush()
        binary.write(code)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if _cached_init(args_list):
            return 0
        quick = _without_argparse(args_list)
        if quick is not None:
            return quick()
        from pipwrap.cli import parser as parser_mod
        from pipwrap.cli.registry import canonical

        if args_list[:1] == ["help"]:  # `pipwrap help [COMMAND]`, as git and uv take it
            args_list = [*args_list[1:2], "--help"]
        # Only the named command's module is imported to parse its arguments.
        named = canonical(args_list[0]) if args_list else None
        parser = parser_mod.build_parser(only=named) if named else parser_mod.build_parser()
        if not args_list:
            # As git and uv do: no command is a usage error, and the help goes to stderr so
            # that `pipwrap | something` does not feed help text into a pipe.
            parser.print_help(sys.stderr)
            return 2
        parser_mod.check_command(args_list[0])
        args = parser.parse_args(args_list)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        args.command = canonical(args.command)
        # `init` renders completion from the whole CLI; handed down as a parameter so
        # that no command imports the CLI layer above it.
        args.completion_data = parser_mod.completion_data
        status: int = parser_mod.command_module(args.command).run(args)
        return status
    except PipwrapError as exc:
        from pipwrap.redact import redact

        sys.stderr.write(f"pipwrap: {redact(str(exc))}\n")
        return exc.exit_status
    except ModuleNotFoundError as exc:
        # A checkout run without its dependencies (tomlkit, platformdirs, tomli before
        # 3.11): say which package to install instead of a traceback.
        from pipwrap.install_hint import missing_module

        sys.stderr.write(f"pipwrap: {missing_module(exc.name or str(exc))}\n")
        return 2


def main_entry() -> None:
    try:
        status = main()
        sys.stdout.flush()
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        # Output went to a closed pipe (`pipwrap list | head`); not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 0
    sys.exit(status)
