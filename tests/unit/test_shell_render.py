"""Every snippet `pipwrap init` can print, with every option, passes its shell's checker.

As zoxide's tests do: the code that reaches a user's shell is what gets checked, not the
templates it is rendered from (their ``{{slots}}`` are not shell syntax).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from pipwrap.cli.parser import completion_data
from pipwrap.shell import init
from pipwrap.shell.templates import render_template

CLI = [sys.executable, "-I", "-c", init.BOOTSTRAP, "/opt/pipwrap"]
OPTIONS = [
    pytest.param({}, id="default"),
    pytest.param({"command": "pw"}, id="cmd"),
    pytest.param({"completion": None}, id="no-completion"),
    pytest.param({"command": "pw", "completion": None}, id="cmd-no-completion"),
]


def _render(shell: str, options: dict[str, object]) -> str:
    completion = options.get("completion", completion_data())
    command = str(options.get("command", "wrap"))
    return init.render(shell, CLI, completion=completion, command=command)  # type: ignore[arg-type]


def _check(shell: str, text: str) -> subprocess.CompletedProcess[str]:
    if shell == "bash":
        argv = ["shellcheck", "-s", "bash", "-"]
    elif shell == "zsh":
        argv = ["zsh", "-n"]
    else:
        argv = ["fish", "--no-execute"]
    if shutil.which(argv[0]) is None:  # CI installs all three (scripts/test.sh)
        pytest.fail(f"{argv[0]} is needed for this test")
    return subprocess.run(argv, input=text, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_rendered_snippet_passes_the_shells_checker(shell: str, options: dict[str, object]) -> None:
    text = _render(shell, options)
    assert "{{" not in text
    result = _check(shell, text)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_cmd_renames_every_user_facing_wrap_and_nothing_else(shell: str) -> None:
    text = _render(shell, {"command": "pw"})
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if " wrap " in f" {line} " and "__pipwrap" not in line]
    assert any("pw" in line.split() or "pw {" in line for line in code)
    assert "__pipwrap_wrap" in text  # private names are never renamed


def test_a_slot_without_a_value_is_a_bug_not_silent_text() -> None:
    with pytest.raises(AssertionError, match="slots"):
        render_template("bash.sh", {})
    with pytest.raises(AssertionError, match="slots"):
        render_template("bash.sh", {"cmd": "wrap", "cli": "", "other": "x"})
