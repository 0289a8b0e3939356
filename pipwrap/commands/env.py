"""``pipwrap env``: print the variables a wrapped command gets."""

from __future__ import annotations

import argparse
import json
import os
import sys

from pipwrap.commands.common import add_profile


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.description = (
        "Print the variables `wrap` sets for the chosen profile. Passwords are masked "
        "unless --reveal is given."
    )
    add_profile(parser)
    parser.add_argument("--format", choices=("sh", "fish", "json"), default="sh")
    parser.add_argument("--json", action="store_const", const="json", dest="format",
                        help="the same as --format json")
    parser.add_argument(
        "--reveal", action="store_true", help="print credentials in clear (for eval)"
    )


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(render(args.format, args.profile, reveal=args.reveal))
    return 0


def render(fmt: str, profile: str | None, *, reveal: bool = False) -> str:
    from pipwrap.fence.client import TERMINAL
    from pipwrap.profiles.credentials import password
    from pipwrap.profiles.resolve import resolve
    from pipwrap.redact import redact
    from pipwrap.shell import state
    from pipwrap.shell.dialect import dialect

    chosen = resolve(profile).profile
    # For `eval "$(pipwrap env)"`: the fence session lasts as long as the calling shell,
    # so the agent gets the terminal for refusals, never this process's stdout or stderr
    # (a pipe someone may be waiting on).
    env, _agent = state.fenced_environment(chosen, password(chosen, os.environ).value,
                                           os.environ, owner_pid=os.getppid(),
                                           report_fd=TERMINAL)
    if not reveal:
        # TWINE_PASSWORD is a bare secret, not a URL redact() could mask a part of.
        env = {name: "****" if name == "TWINE_PASSWORD" else redact(value)
               for name, value in env.items()}
    if fmt == "json":
        return json.dumps(env, indent=2) + "\n"
    shell = dialect("fish" if fmt == "fish" else "bash")
    return "".join(shell.export(name, value) + "\n" for name, value in env.items())
