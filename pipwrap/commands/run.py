"""``pipwrap run``: run a command with the profile's environment (checked first)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Sequence

from pipwrap.commands.common import add_profile, strip_dashdash
from pipwrap.commands.env import SHELL_PID_ENV
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
                upload_url=resolution.profile.upload_url, profile=resolution.profile.name,
                has_fallback=bool(resolution.profile.fallback))
    # The fence session belongs to this process, which waits for the command: it ends
    # when the command does. No fence, no command.
    added, session = state.fenced_environment(resolution.profile, secret.value, os.environ,
                                              owner_pid=os.getpid(),
                                              isolation=resolution.profile.isolation)
    sys.stderr.write(state.isolation_notice(resolution.profile, session))
    added, _in_shell = state.inside_environment(added, session)
    # Every other spelling of a source variable goes, then pipwrap's own values are set.
    env = scrub.child_environ(os.environ, added)
    for name in state.around_fence(os.environ, added, resolution.profile.password_env):
        env.pop(name, None)
    env.pop(SHELL_PID_ENV, None)  # the `pipwrap` shell function's, not the command's
    executable = shutil.which(argv[0], path=env.get("PATH")) if os.sep not in argv[0] \
        else argv[0]
    if executable is None:
        raise PipwrapError(f"run: command not found: {argv[0]}", exit_status=127)
    sys.stdout.flush()
    sys.stderr.flush()
    if session.enter:
        # Into the fence's network namespace (nsenter execs the command: same pid).
        argv, executable = [*session.enter, executable, *argv[1:]], session.enter[0]
    returncode = _wait_for(argv, executable, env)
    # The refusals the fence wrote for this command, on its own stderr, after it.
    said = state.take_report(session.report_file)
    if returncode != 0:
        said += state.agent_gone_note(session.agent_pid)
    if said:
        sys.stderr.write(said)
        sys.stderr.flush()
    if returncode < 0:
        # Killed by a signal: die of the same one, so the caller sees what the command did.
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(-returncode, signal.SIG_DFL)
        os.kill(os.getpid(), -returncode)
        return 128 - returncode
    return returncode


def _wait_for(argv: Sequence[str], executable: str, env: dict[str, str]) -> int:
    """Run the command as a child (not execve: the refusals are said after it ends).

    The terminal's Ctrl-C and Ctrl-\\ reach the command itself (same process group), so
    this process ignores them; a TERM or HUP sent to this pid (a `timeout`, a closed
    terminal) is passed on. The command inherits every descriptor execve would have kept.
    """
    import subprocess

    try:
        child = subprocess.Popen(list(argv), executable=executable, env=env, close_fds=False)
    except OSError as exc:
        raise PipwrapError(f"run: cannot execute {argv[0]}: {exc.strerror}") from None

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for name, handler in (("SIGINT", signal.SIG_IGN), ("SIGQUIT", signal.SIG_IGN),
                          ("SIGTERM", forward), ("SIGHUP", forward)):
        if hasattr(signal, name):  # SIGQUIT and SIGHUP are POSIX only
            signal.signal(getattr(signal, name), handler)
    return child.wait()
