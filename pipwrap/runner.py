"""`pipwrap run` and `pipwrap env`: the profile's environment, applied or printed."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence

from pipwrap import guard, shellcode
from pipwrap.credentials import password
from pipwrap.errors import PipwrapError
from pipwrap.redact import redact
from pipwrap.resolve import Resolution, resolve


def child_environment(profile_name: str | None, owner_pid: int | None = None) -> dict[str, str]:
    return _additions(resolve(profile_name), owner_pid)


def _additions(resolution: Resolution, owner_pid: int | None = None) -> dict[str, str]:
    from pipwrap import fence, state

    secret = password(resolution.profile, os.environ)
    # A session for the caller (`eval "$(pipwrap env)"`) outlives this process: the agent
    # must not keep this process's stderr (a pipe someone waits on), only the terminal.
    env, _agent = state.fenced_environment(
        resolution.profile, secret.value, os.environ,
        owner_pid=os.getpid() if owner_pid is None else owner_pid,
        report_fd=2 if owner_pid is None else fence.client.TERMINAL)
    return env


def run(argv: Sequence[str], profile: str | None = None) -> int:
    from pipwrap import state
    from pipwrap.guard import scrub

    resolution = resolve(profile)
    guard.check(argv, os.environ, index_url=resolution.profile.index_url,
                upload_url=resolution.profile.upload_url)
    # The session belongs to this process, which becomes the command (execve keeps the
    # pid): it ends when the command does.
    additions = _additions(resolution)
    # Every other spelling of a source variable goes, then pipwrap's own values are set.
    env = scrub.child_environ(os.environ, additions)
    for name in state.around_fence(os.environ, additions):
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


def render_env(fmt: str, profile: str | None, *, reveal: bool = False) -> str:
    # For `eval "$(pipwrap env)"`: the fence session lasts as long as the calling shell.
    env = child_environment(profile, owner_pid=os.getppid())
    if not reveal:
        # TWINE_PASSWORD is a bare secret, not a URL redact() could mask a part of.
        env = {name: "****" if name == "TWINE_PASSWORD" else redact(value)
               for name, value in env.items()}
    if fmt == "json":
        return json.dumps(env, indent=2) + "\n"
    if fmt == "fish":
        return "".join(f"set -gx {k} {shellcode.quote_fish(v)}\n" for k, v in env.items())
    return "".join(f"export {k}={shellcode.quote_posix(v)}\n" for k, v in env.items())
