"""``pipwrap check``: would a command use only the profile's index under ``wrap``?"""

from __future__ import annotations

import os

from pipwrap.commands.common import add_profile, strip_dashdash
from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.description = (
        "Exit 0 if COMMAND would use only the profile's index under wrap, else print why "
        "and exit 3. Launchers (env, sudo, python -m, sh -c ...) are looked through; what "
        "pipwrap cannot read exactly is refused."
    )
    parser.usage = "pipwrap check [--profile NAME] [--function-body TEXT] [--] COMMAND [ARGS...]"
    add_profile(parser)
    parser.add_argument(
        "--function-body", metavar="TEXT",
        help="COMMAND is a shell function with this definition (the shell passes it)",
    )
    from argparse import REMAINDER

    parser.add_argument("argv", nargs=REMAINDER, metavar="COMMAND [ARGS...]")


def run(args: argparse.Namespace) -> int:
    return check_argv(strip_dashdash(args.argv), args.profile, args.function_body)


def check_argv(argv: list[str], profile: str | None = None,
               function_body: str | None = None) -> int:
    from pipwrap import guard
    from pipwrap.profiles.resolve import resolve

    if not argv:
        raise PipwrapError("check: no command given")
    chosen = resolve(profile).profile
    guard.check(argv, os.environ, index_url=chosen.index_url, function_body=function_body,
                upload_url=chosen.upload_url, profile=chosen.name,
                has_fallback=bool(chosen.fallback))
    return 0
