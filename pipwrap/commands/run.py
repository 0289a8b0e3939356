"""``pipwrap run``: run a command with the profile's environment (checked first)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

from pipwrap.commands.common import add_profile, strip_dashdash
from pipwrap.errors import PipwrapError


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.description = (
        "Run COMMAND with the profile's index as its only package source. pip-like "
        "commands are checked first (see `pipwrap check`)."
    )
    parser.usage = "pipwrap run [--profile NAME] [--] COMMAND [ARGS...]"
    add_profile(parser)
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND [ARGS...]")


def run(args: argparse.Namespace) -> int:
    argv = strip_dashdash(args.argv)
    if not argv:
        raise PipwrapError("run: no command given (usage: pipwrap run [--] COMMAND [ARGS...])")
    return execute(argv, profile=args.profile)


def execute(argv: Sequence[str], profile: str | None = None) -> int:
    from pipwrap import guard
    from pipwrap.guard import scrub
    from pipwrap.profiles.credentials import password
    from pipwrap.profiles.resolve import resolve
    from pipwrap.shell import state

    resolution = resolve(profile)
    secret = password(resolution.profile, os.environ)
    guard.check(argv, os.environ, index_url=resolution.profile.index_url,
                upload_url=resolution.profile.upload_url, profile=resolution.profile.name)
    # The fence session belongs to this process, which becomes the command (execve keeps
    # the pid): it ends when the command does. No fence, no command.
    added, _agent = state.fenced_environment(resolution.profile, secret.value, os.environ,
                                             owner_pid=os.getpid())
    # Every other spelling of a source variable goes, then pipwrap's own values are set.
    env = scrub.child_environ(os.environ, added)
    for name in state.around_fence(os.environ, added, resolution.profile.password_env):
        env.pop(name, None)
    executable = shutil.which(argv[0], path=env.get("PATH")) if os.sep not in argv[0] \
        else argv[0]
    if executable is None:
        raise PipwrapError(f"run: command not found: {argv[0]}", exit_status=127)
    sys.stdout.flush()
    sys.stderr.flush()
    if hasattr(os, "execve") and os.name == "posix":
        # Replace this process: signals and the exit status are the command's own.
        try:
            os.execve(executable, list(argv), env)
        except OSError as exc:
            raise PipwrapError(f"run: cannot execute {argv[0]}: {exc.strerror}") from None
    import subprocess  # pragma: no cover - non-POSIX platforms

    return subprocess.call(list(argv), env=env, executable=executable)  # pragma: no cover
