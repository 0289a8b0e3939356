"""The shell side of the guard, in real bash, zsh and fish (and dash for init.sh)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.sandbox import Indexes, Sandbox, installed
from tests.support.shells import REPO, SHELLS

EVIL = ("evil", "9.9.9")
LOCAL = ("local", "1.0")


def _export(shell: str, name: str, value: str) -> str:
    return f"set -gx {name} {value}" if shell == "fish" else f"export {name}={value}"


@pytest.mark.parametrize("shell", SHELLS)
def test_a_source_variable_of_another_spelling_exported_later_is_removed(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    """First `wrap` caches the state; then the leak is exported; the next call sees it."""
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    script = (
        "wrap true\n"
        f"{_export(shell, 'PIP___EXTRA_INDEX_URL', indexes.upstream.url)}\n"
        f"PIP_INDEX_URL={indexes.local.url} pip install -q --target {bare} foo\n"
        f"wrap pip install -q --target {wrapped} foo\n"
        "printenv PIP___EXTRA_INDEX_URL\n"
    )
    done = sandbox.sh(shell, script)
    assert installed(bare) == EVIL, done.stderr
    assert installed(wrapped) == LOCAL, done.stderr
    assert done.stdout.strip() == indexes.upstream.url  # the shell keeps its own variable


@pytest.mark.parametrize("shell", SHELLS)
def test_functions_and_fish_aliases_are_read(sandbox: Sandbox, indexes: Indexes,
                                              shell: str) -> None:
    define = ("alias _p pip" if shell == "fish" else '_p() { pip "$@"; }')
    status = "$status" if shell == "fish" else "$?"
    target = sandbox.home / "t"
    script = (f"{define}\nwrap _p install -q --target {target} --extra "
              f"{indexes.upstream.url} foo\necho status={status}\n"
              f"wrap _p install -q --target {target} foo\necho status={status}\n")
    done = sandbox.sh(shell, script)
    assert done.stdout.split() == ["status=3", "status=0"], done.stderr
    assert installed(target) == LOCAL


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_function_that_adds_a_source_itself_is_refused(sandbox: Sandbox, indexes: Indexes,
                                                         shell: str) -> None:
    script = (f'inst() {{ pip install --extra-index-url {indexes.upstream.url} "$@"; }}\n'
              "wrap inst foo\necho status=$?\n")
    done = sandbox.sh(shell, script)
    assert done.stdout.strip() == "status=3", done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_wrap_works_in_a_non_interactive_script(sandbox: Sandbox, shell: str) -> None:
    target = sandbox.home / "t"
    python = sys.executable
    if shell == "fish":
        body = f"'{python}' -m pipwrap init fish | source\nwrap pip install -q --target {target} foo\n"
        argv = ["fish", "--no-config"]
    else:
        strict = "set -euo pipefail" if shell == "bash" else "set -eu; setopt pipefail"
        body = (f"{strict}\neval \"$('{python}' -m pipwrap init {shell})\"\n"
                f"wrap pip install -q --target {target} foo\nwrap true\n")
        argv = [shell] if shell == "bash" else ["zsh", "-f"]
    script = sandbox.home / f"script.{shell}"
    script.write_text(body)
    done = subprocess.run([*argv, str(script)], env=sandbox.env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert installed(target) == LOCAL


def test_init_sh_in_dash_says_what_to_do_and_stops(sandbox: Sandbox) -> None:
    done = subprocess.run(["dash", "-c", f". '{REPO}/shell/init.sh'; echo status=$?"],
                          env={**sandbox.env, "PIPWRAP_PYTHON": sys.executable},
                          capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "status=1"
    assert "pipwrap run -- pip install" in done.stderr
    assert "not found" not in done.stderr


def test_xtrace_shows_the_command_but_nothing_of_pipwraps_own(sandbox: Sandbox) -> None:
    done = sandbox.sh("bash", "set -x\nwrap true marker-arg\n")
    assert "true marker-arg" in done.stderr
    assert "__pipwrap_state" not in done.stderr and "_state bash" not in done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_missing_command_is_reported_as_typed(sandbox: Sandbox, shell: str) -> None:
    status = "$status" if shell == "fish" else "$?"
    done = sandbox.sh(shell, f"wrap no-such-command-xyz\necho status={status}\n")
    assert done.stdout.strip() == "status=127"
    assert "wrap: command not found: no-such-command-xyz" in done.stderr
    assert "__pipwrap" not in done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_init_cmd_names_the_command(sandbox: Sandbox, shell: str) -> None:
    python = sys.executable
    line = (f"'{python}' -m pipwrap init fish --cmd pw | source" if shell == "fish" else
            f"eval \"$('{python}' -m pipwrap init {shell} --cmd pw)\"")
    status = "$status" if shell == "fish" else "$?"
    done = sandbox.sh(shell, f"{line}\npw printenv PIPWRAP_ACTIVE_PROFILE\npw\necho status={status}\n")
    assert done.stdout.split() == ["local", "status=2"], done.stderr
    assert "usage: pw COMMAND" in done.stderr


def test_init_cmd_must_be_a_plain_name(sandbox: Sandbox) -> None:
    done = subprocess.run([sys.executable, "-m", "pipwrap", "init", "bash", "--cmd", "x;touch y"],
                          env=sandbox.env, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert "--cmd" in done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_the_prompt_variable_follows_use_and_directory_files(sandbox: Sandbox,
                                                             shell: str) -> None:
    project = sandbox.home / "proj"
    project.mkdir()
    (project / ".pipwrap.toml").write_text('profile = "upstream"\n')
    show = "echo prompt=$PIPWRAP_PROMPT_PROFILE"
    script = (f"pipwrap allow {project} >/dev/null\n__pipwrap_prompt_update\n{show}\n"
              f"cd {project}\n__pipwrap_prompt_update\n{show}\ncd ~\n"
              f"pipwrap use upstream\n__pipwrap_prompt_update\n{show}\n")
    done = sandbox.sh(shell, script)
    assert done.stdout.split() == ["prompt=local", "prompt=upstream", "prompt=upstream"], \
        done.stderr


def test_zsh_precommand_modifiers_are_launchers(sandbox: Sandbox, indexes: Indexes) -> None:
    """zsh honours `noglob` even when it comes from "$@": it must not hide pip."""
    (sandbox.home / "req.txt").write_text(f"--extra-index-url {indexes.upstream.url}\nfoo\n")
    target = sandbox.home / "t"
    done = sandbox.sh("zsh", f"cd ~\nwrap noglob pip install -q --target {target} -r req.txt\n"
                      "echo status=$?\n")
    assert done.stdout.strip() == "status=3", done.stderr
    assert not target.exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_an_empty_file_variable_given_a_value_later_is_scanned(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    """The key holds names, not values: an empty PIP_Constraint filled in after the first
    `wrap` must still send pip through the guard (--dry-run is on the fast path's list)."""
    constraints = sandbox.home / "c.txt"
    constraints.write_text(f"--extra-index-url {indexes.upstream.url}\n")
    status = "$status" if shell == "fish" else "$?"
    script = (f"{_export(shell, 'PIP_Constraint', repr(''))}\nwrap true\n"
              f"{_export(shell, 'PIP_Constraint', str(constraints))}\n"
              f"wrap pip install --dry-run foo\necho status={status}\n")
    # No pip config file at all (this machine has a global one naming a constraint file,
    # which alone would send every pip call through the guard).
    done = sandbox.sh(shell, script, PIP_CONFIG_FILE="/dev/null")
    assert "9.9.9" not in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stdout + done.stderr
