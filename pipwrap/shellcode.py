"""Quote values for generated shell code and render the shell snippets.

Everything that reaches ``eval`` in a user's shell passes through :func:`quote`, so a
profile name, URL or path can never be read as shell syntax.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

_SNIPPET_FILES = {"bash": "bash.sh", "zsh": "zsh.zsh", "fish": "wrap.fish"}

# Puts the directory that holds the pipwrap package first on sys.path, so the shell
# function runs exactly the pipwrap that generated it, with -I keeping the current
# directory (a cloned repository) and PYTHON* variables out of the import path.
BOOTSTRAP = (
    "import sys;sys.path.insert(0,sys.argv.pop(1));"
    "from pipwrap.cli import main_entry;main_entry()"
)


def quote_posix(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def quote_fish(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote(shell: str, value: str) -> str:
    return quote_fish(value) if shell == "fish" else quote_posix(value)


def assign_list(shell: str, name: str, values: Iterable[str]) -> str:
    quoted = " ".join(quote(shell, v) for v in values)
    if shell == "fish":
        return f"set -g {name} {quoted}".rstrip()
    return f"{name}=({quoted})"


def assign(shell: str, name: str, value: str) -> str:
    if shell == "fish":
        return f"set -g {name} {quote(shell, value)}"
    return f"{name}={quote(shell, value)}"


def cli_command() -> list[str]:
    package_parent = str(Path(__file__).resolve().parent.parent)
    return [sys.executable, "-I", "-c", BOOTSTRAP, package_parent]


def snippet(shell: str) -> str:
    return (resources.files("pipwrap") / "shell" / _SNIPPET_FILES[shell]).read_text("utf-8")


COMMAND_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def render_init(shell: str, cli: Sequence[str] | None = None, *, completion: bool = True,
                command: str = "wrap") -> str:
    """The code `pipwrap init SHELL` prints: how to call pipwrap, the snippet, completion.

    ``command`` renames the user-facing ``wrap`` (``--cmd``, as zoxide has), for people
    whose ``wrap`` is taken. It must be a plain identifier: it is written into shell code.
    """
    if not COMMAND_NAME.fullmatch(command):
        from pipwrap.errors import PipwrapError

        raise PipwrapError(f"init: --cmd {command!r}: use letters, digits and '_' only")
    cli = cli_command() if cli is None else list(cli)
    header = assign_list(shell, "__pipwrap_cli", cli)
    text = snippet(shell)
    if completion:
        from pipwrap import completion as completion_mod

        text += completion_mod.render(shell)
    if command != "wrap":
        text = re.sub(r"(?<![\w-])wrap(?![\w-])", command, text)
    return f"{header}\n{text}"
