"""Completion of nested commands (`pipwrap repo <Tab>`, `pipwrap config <Tab>`) and their
options, and zsh's descriptions, in the real shells (issue 21, item 9)."""

from __future__ import annotations

from tests.support import shells
from tests.support.sandbox import Sandbox

REPO_ACTIONS = {"add", "list", "remove", "release", "yank", "owner", "index", "push", "path",
                "nginx-conf"}


def test_bash_completes_repo_and_config_actions_and_their_options(sandbox: Sandbox) -> None:
    done = sandbox.sh("bash", "\n".join([
        "COMP_WORDS=(pipwrap repo ''); COMP_CWORD=2; __pipwrap_complete",
        'echo "${COMPREPLY[@]}"',
        "COMP_WORDS=(pipwrap repo ya); COMP_CWORD=2; __pipwrap_complete",
        'echo "${COMPREPLY[@]}"',
        "COMP_WORDS=(pipwrap repo yank --un); COMP_CWORD=3; __pipwrap_complete",
        'echo "${COMPREPLY[@]}"',
        "COMP_WORDS=(pipwrap repo add --re); COMP_CWORD=3; __pipwrap_complete",
        'echo "${COMPREPLY[@]}"',
        "COMP_WORDS=(pipwrap config s); COMP_CWORD=2; __pipwrap_complete",
        'echo "${COMPREPLY[@]}"',
        # A top-level command's options stay its own, not a nested action's namesake.
        "COMP_WORDS=(pipwrap add --de); COMP_CWORD=2; __pipwrap_complete",
        'echo "${COMPREPLY[@]}"',
        "COMP_WORDS=(pipwrap repo add --de); COMP_CWORD=3; __pipwrap_complete",
        'echo "[${COMPREPLY[@]}]"',
    ]))
    lines = done.stdout.splitlines()
    assert set(lines[0].split()) >= REPO_ACTIONS, done.stdout + done.stderr
    assert lines[1:4] == ["yank", "--undo", "--repo"], done.stdout
    assert sorted(lines[4].split()) == ["schema", "show"] and lines[5] == "--default"
    assert lines[6] == "[]"


def test_fish_completes_repo_actions_with_descriptions(sandbox: Sandbox) -> None:
    done = sandbox.sh("fish", "complete -C 'pipwrap repo '\necho ---\n"
                      "complete -C 'pipwrap repo yank --un'\necho ---\n"
                      "complete -C 'pipwrap repo add --'\necho ---\n"
                      "complete -C 'pipwrap config '\n")
    parts = done.stdout.split("---\n")
    actions = dict(line.split("\t", 1) for line in parts[0].splitlines() if "\t" in line)
    assert set(actions) >= REPO_ACTIONS, done.stdout + done.stderr
    assert "wheels" in actions["add"]
    assert parts[1].split("\t")[0].strip() == "--undo", parts[1]
    options = {line.split("\t")[0] for line in parts[2].splitlines()}
    assert "--repo" in options and "--default" not in options, parts[2]
    assert {"path", "show", "schema"} <= {line.split("\t")[0] for line in parts[3].splitlines()}


def _zsh(sandbox: Sandbox, keys: list[tuple[str, float]]) -> str:
    rc_dir = sandbox.home / ".rc-zsh"
    rc_dir.mkdir(exist_ok=True)
    (rc_dir / ".zshrc").write_text("autoload -Uz compinit && compinit -u -D\n"
                                   + shells.init_line("zsh") + "\ncd ~\nPS1='$ '\n")
    env = {**sandbox.env, "ZDOTDIR": str(rc_dir), "TERM": "xterm", "COLUMNS": "200"}
    return shells.interactive(["zsh", "-i"], env, [("", 1.5), *keys, ("exit\n", 0.5)])


def test_zsh_completes_repo_actions_at_a_prompt(sandbox: Sandbox) -> None:
    # `pipwrap repo pa<TAB>` must become `pipwrap repo path` and run.
    text = _zsh(sandbox, [("pipwrap repo pa\t", 1.0), ("\n", 2.0)])
    assert "pipwrap/repo" in text, text


def test_zsh_shows_descriptions_for_commands_and_actions(sandbox: Sandbox) -> None:
    text = _zsh(sandbox, [("pipwrap repo \t", 1.5), ("\x15", 0.5),
                          ("pipwrap de\t", 1.5), ("\x15", 0.5)])
    assert "add wheels and sdists" in text, text
    assert "set the default profile" in text, text
