"""What ``pipwrap init SHELL`` prints: how to call pipwrap, the snippet, completion."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipwrap.errors import PipwrapError
from pipwrap.shell.dialect import dialect
from pipwrap.shell.templates import render_template

# Puts the directory that holds the pipwrap package first on sys.path, so the shell
# function runs exactly the pipwrap that generated it, with -I keeping the current
# directory (a cloned repository) and PYTHON* variables out of the import path.
BOOTSTRAP = (
    "import sys;sys.path.insert(0,sys.argv.pop(1));"
    "from pipwrap.cli import main_entry;main_entry()"
)

COMMAND_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def cli_command() -> list[str]:
    package_parent = str(Path(__file__).resolve().parent.parent.parent)
    return [sys.executable, "-I", "-c", BOOTSTRAP, package_parent]


def render(shell: str, cli: Sequence[str] | None = None, *,
           completion: dict[str, Any] | None = None, command: str = "wrap") -> str:
    """The whole init code for ``shell``; ``completion``: the CLI's completion data, or
    None to leave completion out.

    ``command`` renames the user-facing ``wrap`` (``--cmd``, as zoxide has), for people
    whose ``wrap`` is taken. It must be a plain identifier: it is written into shell code.
    """
    if not COMMAND_NAME.fullmatch(command):
        raise PipwrapError(f"init: --cmd {command!r}: use letters, digits and '_' only")
    speak = dialect(shell)
    cli_line = speak.assign_list("__pipwrap_cli", cli_command() if cli is None else list(cli))
    text = render_template(speak.snippet, {"cmd": command, "cli": cli_line,
                                           **fast_path_slots(shell)})
    if completion is not None:
        from pipwrap.shell import completion as completion_mod

        text += completion_mod.render(shell, completion, command)
    return text


def fast_path_slots(shell: str) -> dict[str, str]:
    """The shell's choice of when to ask the guard, from the guard's own tables."""
    from fnmatch import fnmatchcase

    from pipwrap.guard import fastpath

    speak = dialect(shell)
    patterns = speak.case_patterns
    globs = (*fastpath.PIP_OR_PYTHON_GLOBS, *fastpath.SCRIPT_GLOBS)
    # A name a glob of the same branch already matches is left out (shellcheck flags it),
    # and uv, which has a branch of its own before this one.
    checked = [name for name in fastpath.checked_programs()
               if not any(fnmatchcase(name, glob) for glob in globs) and name != "uv"]
    return {
        "pip": patterns(fastpath.PIP_GLOBS),
        "inert": patterns(literals=fastpath.inert_programs()),
        "checked": patterns(globs, checked),
        "source_arguments": patterns(fastpath.source_argument_globs()),
        "pip_flags": patterns(fastpath.harmless_pip_flags()),
        "pip_valued": patterns(fastpath.harmless_pip_valued()),
        "uv_flags": patterns(literals=fastpath.uv_install_flags()),
        "uv_valued": patterns(fastpath.uv_install_valued()),
        "spec_re": speak.assign("__pipwrap_spec_re", _requirement_regex(shell)),
    }


def _requirement_regex(shell: str) -> str:
    from pipwrap.guard import fastpath

    if shell == "fish":
        # fish sets a variable for each named group: the requirement's name, to test as a
        # path, without a command substitution.
        return fastpath.REQUIREMENT_REGEX.replace("^(", "^(?<__pipwrap_req>", 1)
    return fastpath.REQUIREMENT_REGEX
