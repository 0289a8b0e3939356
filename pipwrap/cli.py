"""The ``pipwrap`` command line: argument parsing and dispatch only.

Each subcommand's work lives in its own module, imported when that subcommand runs, so
that ``pipwrap list`` does not pay for what ``pipwrap doctor`` needs. The reading commands
and ``check`` in their plain forms skip even argparse (see :func:`_without_argparse`).
"""

from __future__ import annotations

import os
import sys

from pipwrap import __version__
from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

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


def _add_profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile", "-p", metavar="NAME",
        help="use this profile (default: $PIPWRAP_PROFILE, then the config's choice)",
    )


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def build_parser(*, hosting_only: bool = False) -> argparse.ArgumentParser:
    """The whole CLI; ``hosting_only``: just ``repo`` and ``serve`` (what they need to run)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            self.print_usage(sys.stderr)
            self.exit(2, f"pipwrap: error: {message}\n")

    parser = _Parser(
        prog="pipwrap", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pipwrap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from pipwrap.repo import cli as repo_cli

    if hosting_only:
        repo_cli.add_parsers(sub)
        return parser

    init = sub.add_parser(
        "init", help="print the shell code that defines `wrap`",
        description="Print shell code defining `wrap` (and the `pipwrap` helper function). "
        "Add to ~/.bashrc:  command -v pipwrap >/dev/null && eval \"$(pipwrap init bash)\"   "
        "~/.zshrc: the same with zsh   ~/.config/fish/config.fish:  command -q pipwrap; and "
        "pipwrap init fish | source   (the guard keeps new shells working once pipwrap is "
        "uninstalled)",
    )
    init.add_argument("shell", choices=("bash", "zsh", "fish"))
    init.add_argument("--cmd", metavar="NAME", default="wrap",
                      help="name the command NAME instead of wrap (if yours is taken)")
    init.add_argument(
        "--no-completion", action="store_true", help="leave out tab completion for pipwrap"
    )

    env = sub.add_parser(
        "env", help="print the environment a wrapped command gets",
        description="Print the variables `wrap` sets for the chosen profile. Passwords are "
        "masked unless --reveal is given.",
    )
    _add_profile(env)
    env.add_argument("--format", choices=("sh", "fish", "json"), default="sh")
    env.add_argument("--json", action="store_const", const="json", dest="format",
                     help="the same as --format json")
    env.add_argument(
        "--reveal", action="store_true", help="print credentials in clear (for eval)"
    )

    run = sub.add_parser(
        "run", help="run a command with the profile's environment",
        description="Run COMMAND with the profile's index as its only package source. "
        "pip-like commands are checked first (see `pipwrap check`).",
        usage="pipwrap run [--profile NAME] [--] COMMAND [ARGS...]",
    )
    _add_profile(run)
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND [ARGS...]")

    check = sub.add_parser(
        "check", help="check a command for extra package sources, without running it",
        description="Exit 0 if COMMAND would use only the profile's index under wrap, else "
        "print why and exit 3. Launchers (env, sudo, python -m, sh -c ...) are looked "
        "through; what pipwrap cannot read exactly is refused.",
        usage="pipwrap check [--profile NAME] [--function-body TEXT] [--] COMMAND [ARGS...]",
    )
    _add_profile(check)
    check.add_argument(
        "--function-body", metavar="TEXT",
        help="COMMAND is a shell function with this definition (the shell passes it)",
    )
    check.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND [ARGS...]")

    doctor = sub.add_parser(
        "doctor", help="show what pip would really use, and flag risks",
        description="Read pip's config layers and PIP_* variables, show each index-related "
        "setting with its source, what wrap overrides, and risks. Exit 1 if a risk remains "
        "that wrap cannot neutralize.",
    )
    _add_profile(doctor)
    _add_json(doctor)

    state = sub.add_parser("_state")  # internal: the shell function's cache refresh
    state.add_argument("shell", choices=("bash", "zsh", "fish"))
    state.add_argument("--pid", type=int, required=True)
    sub.add_parser("_names")  # internal: profile names for tab completion

    from pipwrap import profiles_cli

    profiles_cli.add_parsers(sub, _add_profile, _add_json)
    repo_cli.add_parsers(sub)
    # argparse lists every choice, hidden ones included; keep internal ones out of help.
    sub._choices_actions = [a for a in sub._choices_actions if not a.dest.startswith("_")]
    return parser


def _strip_dashdash(argv: Sequence[str]) -> list[str]:
    argv = list(argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    return argv


def _run(args: argparse.Namespace) -> int:
    from pipwrap import runner

    argv = _strip_dashdash(args.argv)
    if not argv:
        raise PipwrapError("run: no command given (usage: pipwrap run [--] COMMAND [ARGS...])")
    return runner.run(argv, profile=args.profile)


def _check(args: argparse.Namespace) -> int:
    return _check_argv(_strip_dashdash(args.argv), args.profile, args.function_body)


def _check_argv(argv: list[str], profile: str | None = None,
                function_body: str | None = None) -> int:
    from pipwrap import guard
    from pipwrap.resolve import resolve

    if not argv:
        raise PipwrapError("check: no command given")
    chosen = resolve(profile).profile
    guard.check(argv, os.environ, index_url=chosen.index_url, function_body=function_body,
                upload_url=chosen.upload_url)
    return 0


def _env(args: argparse.Namespace) -> int:
    from pipwrap import runner

    sys.stdout.write(runner.render_env(args.format, args.profile, reveal=args.reveal))
    return 0


def _init(args: argparse.Namespace) -> int:
    from pipwrap import shellcode

    sys.stdout.write(shellcode.render_init(args.shell, completion=not args.no_completion,
                                           command=args.cmd))
    return 0


def _state(args: argparse.Namespace) -> int:
    from pipwrap import state

    sys.stdout.write(state.render(args.shell, args.pid, os.environ))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from pipwrap import doctor

    return doctor.main(args.profile, as_json=bool(args.json))


def _repo(args: argparse.Namespace) -> int:
    from pipwrap.repo import cli as repo_cli

    return repo_cli.run_repo(args)


def _serve(args: argparse.Namespace) -> int:
    from pipwrap.repo import cli as repo_cli

    return repo_cli.run_serve(args)


def _names(args: argparse.Namespace) -> int:
    from pipwrap import listing

    return listing.names()


ALIASES = {"ls": "list", "rm": "remove"}


def public_commands(parser: argparse.ArgumentParser) -> list[str]:
    """Subcommand names a user may be shown: internal ones (``_state``...) never are."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            # The help entries: one per command (no aliases), internal ones already dropped.
            names = (choice.dest for choice in action._get_subactions())
            return sorted(name for name in names if not name.startswith("_"))
    return []  # pragma: no cover


def _check_command(parser: argparse.ArgumentParser, word: str) -> None:
    """An unknown subcommand: say so with a suggestion, not argparse's list of choices.

    argparse's own message would list every choice, the internal ones included.
    """
    if word.startswith("-"):
        return
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and word in action.choices:
            return
    import difflib

    known = public_commands(parser)
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise PipwrapError(f"unknown command {word!r}{hint}\n"
                       f"commands: {', '.join(known)} (see pipwrap --help)")


HANDLERS = {
    "_names": _names,
    "run": _run, "check": _check, "env": _env, "init": _init, "_state": _state,
    "doctor": _doctor, "repo": _repo, "serve": _serve,
}


def _without_argparse(argv: list[str]) -> Callable[[], int] | None:
    """The handler for a few command lines given exactly as matched here, or None.

    Building the argparse parser costs more than these commands' own work, so the forms
    that shells, prompts and ``wrap`` itself run often are matched by hand: ``list`` and
    ``current`` (with or without ``--json``), ``_names``, and ``check -- COMMAND...``.
    Anything else (``--help``, an abbreviation, a typo) goes to argparse, which stays the
    one definition of the CLI.
    """
    if argv[:2] == ["check", "--"] and len(argv) > 2:
        return lambda: _check_argv(argv[2:])
    if argv[:2] == ["check", "--function-body"] and argv[3:4] == ["--"] and len(argv) > 4:
        return lambda: _check_argv(argv[4:], function_body=argv[2])
    if argv not in (["list"], ["list", "--json"], ["ls"], ["ls", "--json"], ["current"],
                    ["current", "--json"], ["_names"]):
        return None
    from pipwrap import listing

    as_json = argv[1:] == ["--json"]
    if argv[0] in ("list", "ls"):
        return lambda: listing.list_profiles(as_json=as_json)
    if argv[0] == "current":
        return lambda: listing.current(as_json=as_json)
    return listing.names


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        quick = _without_argparse(args_list)
        if quick is not None:
            return quick()
        # The hosting commands are the only ones a server or a sync job runs in a loop.
        parser = build_parser(hosting_only=args_list[:1] in (["repo"], ["serve"]))
        if not args_list:
            # As git and uv do: no command is a usage error, and the help goes to stderr so
            # that `pipwrap | something` does not feed help text into a pipe.
            parser.print_help(sys.stderr)
            return 2
        if args_list[0] == "help":  # `pipwrap help [COMMAND]`, as git and uv take it
            args_list = [*args_list[1:2], "--help"]
        _check_command(parser, args_list[0])
        args = parser.parse_args(args_list)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        args.command = ALIASES.get(args.command, args.command)
        handler = HANDLERS.get(args.command)
        if handler is not None:
            return handler(args)
        from pipwrap import profiles_cli

        return profiles_cli.dispatch(args)
    except PipwrapError as exc:
        from pipwrap.redact import redact

        sys.stderr.write(f"pipwrap: {redact(str(exc))}\n")
        return exc.exit_status
    except ModuleNotFoundError as exc:
        # A checkout run without its dependencies (tomlkit, tomli before 3.11, platformdirs
        # off Linux): say which package to install instead of a traceback.
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
