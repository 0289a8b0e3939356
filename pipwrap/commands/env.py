"""``pipwrap env``: print the variables a wrapped command gets."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipwrap.commands.common import add_profile
from pipwrap.errors import PipwrapError

MASKED_NOTE = "# masked: pipwrap env --reveal prints it"
# Set by the `pipwrap` shell function: the interactive shell's pid ($$ is that shell in
# bash and zsh even inside `$(...)`; fish has $fish_pid).
SHELL_PID_ENV = "PIPWRAP_SHELL_PID"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.description = (
        "Print the variables `wrap` sets for the chosen profile. A value holding a password "
        "is masked and, in the sh, fish and dotenv forms, written as a comment, so that "
        "masked output never passes for something to eval. Evaluable: eval \"$(pipwrap env "
        "--reveal)\" in bash/zsh, pipwrap env --reveal --format fish | source in fish. "
        "Once the config changes, the fence refuses every request made with these "
        "variables: run it again."
    )
    add_profile(parser)
    parser.add_argument(
        "--format", choices=("sh", "fish", "dotenv", "json"), default="sh",
        help="sh (default) and fish: export lines for eval / source; dotenv: NAME=value "
             "lines, unquoted (docker --env-file, $GITHUB_ENV); json: an object")
    parser.add_argument("--json", action="store_const", const="json", dest="format",
                        help="the same as --format json")
    parser.add_argument(
        "--reveal", action="store_true", help="print credentials in clear (for eval)"
    )


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(render(args.format, args.profile, reveal=args.reveal))
    return 0


def render(fmt: str, profile: str | None, *, reveal: bool = False) -> str:
    from pipwrap.profiles.credentials import password
    from pipwrap.redact import redact
    from pipwrap.shell import state
    from pipwrap.shell.dialect import dialect

    resolution, made_from = state.resolve_watched(os.environ, profile)
    chosen = resolution.profile
    # For `eval "$(pipwrap env)"`: the fence session lasts as long as the calling shell.
    # Nothing runs these variables through `wrap`, so no report file is kept: a refused
    # request's 403 names what the fence refused. Nor does anything resolve the profile
    # again when the config changes, as `wrap` does: the session refuses every request
    # from then on (made_from), rather than keep rules the user may have tightened.
    env, _session = state.fenced_environment(chosen, password(chosen, os.environ).value,
                                             os.environ, owner_pid=calling_shell(),
                                             report=False, made_from=made_from)
    masked: set[str] = set()
    if not reveal:
        # TWINE_PASSWORD is a bare secret, not a URL redact() could mask a part of.
        shown = {name: "****" if name == "TWINE_PASSWORD" and value else redact(value)
                 for name, value in env.items()}
        masked = {name for name in env if shown[name] != env[name]}
        env = shown
    if fmt == "json":
        return json.dumps(env, indent=2) + "\n"
    if fmt == "dotenv":
        bad = [name for name, value in env.items() if "\n" in value or "\r" in value]
        if bad:
            raise PipwrapError(f"env: {bad[0]} holds a line break, which a dotenv file "
                               "cannot carry; use --format sh or json")
        lines = [f"{name}={value}" for name, value in env.items()]
    else:
        shell = dialect("fish" if fmt == "fish" else "bash")
        lines = [shell.export(name, value) for name, value in env.items()]
    out = [f"# {line}  {MASKED_NOTE}" if name in masked else line
           for name, line in zip(env, lines)]
    return "".join(line + "\n" for line in out)


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        return int(stat[stat.rindex(b")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def calling_shell() -> int:
    """The process whose variables `eval "$(pipwrap env)"` sets, which owns the session.

    Our parent is not it under the shell function: `$(...)` runs the function in a
    subshell that exits at once (and the session with it). The function names the
    shell; the claim is believed only for an ancestor of this process (where /proc
    says so), otherwise the parent it is.
    """
    parent = os.getppid()
    claimed = os.environ.get(SHELL_PID_ENV, "")
    if not claimed.isdigit():
        return parent
    wanted, pid = int(claimed), parent
    for _ in range(16):
        if pid == wanted:
            return wanted
        up = _parent_of(pid)
        if up is None or up <= 1:
            break
        pid = up
    return parent
