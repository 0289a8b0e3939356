"""Completion after `wrap` and for pipwrap's own options, in real shells (zsh at a prompt)."""

from __future__ import annotations

import pytest

from tests.support import shells
from tests.support.sandbox import Sandbox


def test_bash_completes_the_wrapped_command_and_pipwraps_options(sandbox: Sandbox) -> None:
    done = sandbox.sh("bash", "cd ~\nCOMP_WORDS=(wrap pipwra); COMP_CWORD=1; __pipwrap_complete_wrap\n"
                      "echo \"${COMPREPLY[@]}\"\n"
                      "COMP_WORDS=(pipwrap env --fo); COMP_CWORD=2; __pipwrap_complete\n"
                      "echo \"${COMPREPLY[@]}\"\ncomplete -p wrap\n")
    lines = done.stdout.splitlines()
    # The function and the program; pipwrap-cli is the same program under the distribution's
    # name (for `uvx pipwrap-cli`), on PATH beside it wherever pipwrap was installed.
    assert set(lines[0].split()) in ({"pipwrap"}, {"pipwrap", "pipwrap-cli"}), done.stderr
    assert lines[1] == "--format"
    assert "-o default" in lines[2]  # files when nothing else applies


def test_fish_completes_the_wrapped_command_with_descriptions(sandbox: Sandbox) -> None:
    done = sandbox.sh("fish", "cd ~\ncomplete -C 'wrap pipwra'\ncomplete -C 'pipwrap doc'\n"
                      "complete -C 'pipwrap env --fo'\ncomplete -C 'wrap pipwrap cu'\n")
    lines = done.stdout.splitlines()
    assert lines[0].split("\t")[0] == "pipwrap", done.stdout + done.stderr
    if lines[1].startswith("pipwrap-cli"):  # the same program under the distribution's name
        del lines[1]
    assert lines[1].startswith("doctor\t") and "risks" in lines[1]
    assert lines[2].split("\t")[0] == "--format"
    assert lines[3].split("\t")[0] == "current"


@pytest.mark.parametrize("order", ["compinit first", "init line first"])
def test_zsh_completes_after_wrap_at_a_prompt(sandbox: Sandbox, order: str) -> None:
    """`wrap pipwra<TAB> cu<TAB>` must become `wrap pipwrap current` and run, whether
    compinit runs before or after the init line (the space is typed: pipwrap-cli, the
    same program under the distribution's name, is a second candidate)."""
    rc_dir = sandbox.home / ".rc-zsh"
    rc_dir.mkdir(exist_ok=True)
    lines = ["autoload -Uz compinit && compinit -u -D", shells.init_line("zsh")]
    if order != "compinit first":
        lines.reverse()
    (rc_dir / ".zshrc").write_text("\n".join(lines) + "\ncd ~\nPS1='$ '\n")
    env = {**sandbox.env, "ZDOTDIR": str(rc_dir)}
    text = shells.interactive(["zsh", "-i"], env, [
        ("", 1.5), ("wrap pipwra\t", 1.0), (" cu\t", 1.0), ("\n", 2.0), ("exit\n", 0.5)])
    assert "why: default in" in text, text
