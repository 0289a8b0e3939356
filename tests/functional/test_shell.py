"""`wrap` semantics in real bash, zsh and fish: scope, status, quoting, caching, Ctrl-C."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import shells
from tests.support.sandbox import Sandbox
from tests.support.shells import POSIX, REPO, SHELLS


@pytest.mark.parametrize("how", ("init", "checkout"))
@pytest.mark.parametrize("shell", SHELLS)
def test_loading_prints_nothing(sandbox: Sandbox, shell: str, how: str) -> None:
    done = sandbox.sh(shell, "true", how=how)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "pipwrap" not in done.stderr


def test_snippet_sources_silently_under_strict_bash_from_another_cwd(sandbox: Sandbox) -> None:
    script = (
        "set -euo pipefail\nshopt -s expand_aliases\ncd /\n"
        f"source '{REPO}/shell/init.sh'\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        "echo \"after=${PIP_INDEX_URL-unset}\"\n"
    )
    env = {**sandbox.env, "PIPWRAP_PYTHON": sys.executable}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "local\nafter=unset\n"
    assert done.stderr == ""


def test_zsh_strict_mode_source(sandbox: Sandbox) -> None:
    script = (
        "set -euo pipefail\ncd /\n"
        f"source '{REPO}/shell/init.sh'\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
    )
    env = {**sandbox.env, "PIPWRAP_PYTHON": sys.executable}
    script_file = sandbox.home / "strict.zsh"
    script_file.write_text(script)  # zsh parses a -c string whole, a file line by line
    done = subprocess.run(["zsh", str(script_file)], env=env, capture_output=True, text=True,
                          check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "local\n", "")


@pytest.mark.parametrize("shell", SHELLS)
def test_environment_applies_to_one_command_only(sandbox: Sandbox, shell: str) -> None:
    script = (
        "wrap printenv PIP_INDEX_URL\n"
        "printenv PIP_INDEX_URL; or echo unset\n" if shell == "fish" else
        "wrap printenv PIP_INDEX_URL\n"
        "printenv PIP_INDEX_URL || echo unset\n"
    )
    done = sandbox.sh(shell, script)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("http://127.0.0.1:") and lines[0].endswith("/simple/")
    assert lines[1] == "unset"


@pytest.mark.parametrize("shell", SHELLS)
def test_user_variables_are_restored_after_wrap(sandbox: Sandbox, shell: str) -> None:
    script = "wrap printenv PIP_FIND_LINKS >/dev/null\nprintenv PIP_FIND_LINKS\n"
    done = sandbox.sh(shell, script, PIP_FIND_LINKS="/my/links")
    assert done.stdout == "/my/links\n", done.stderr


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("status", (0, 1, 7, 130))
def test_exit_status_comes_through(sandbox: Sandbox, shell: str, status: int) -> None:
    script = f"wrap sh -c 'exit {status}'\necho status=$?" if shell != "fish" else \
        f"wrap sh -c 'exit {status}'\necho status=$status"
    done = sandbox.sh(shell, script)
    assert done.stdout.strip().splitlines()[-1] == f"status={status}", done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_arguments_pass_untouched(sandbox: Sandbox, shell: str) -> None:
    (sandbox.home / "a-file").touch()
    if shell == "fish":
        script = "cd ~\nwrap printf '<%s>' 'a b' '' '$HOME' '*' \"it's\" '-n' 'x\n y'\n"
    else:
        script = "cd ~\nwrap printf '<%s>' 'a b' '' '$HOME' '*' \"it's\" '-n' $'x\\n y'\n"
    done = sandbox.sh(shell, script)
    assert done.stdout == "<a b><><$HOME><*><it's><-n><x\n y>", done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_wrap_without_command_prints_usage_and_runs_nothing(sandbox: Sandbox, shell: str) -> None:
    script = "wrap\necho status=$?" if shell != "fish" else "wrap\necho status=$status"
    done = sandbox.sh(shell, script)
    assert "usage: wrap COMMAND" in done.stderr
    assert done.stdout.strip() == "status=2"


@pytest.mark.parametrize("shell", SHELLS)
def test_config_edit_and_profile_change_take_effect_on_next_call(
    sandbox: Sandbox, shell: str
) -> None:
    cfg = sandbox.config
    edited = cfg.read_text().replace('default = "local"', 'default = "upstream"')
    edit = f"{sys.executable} -c 'import pathlib,sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])' {cfg} '{edited}'"
    script = (
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        f"{edit}\n"  # within the same second: the mtime check must be finer than that
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        "PIPWRAP_PROFILE=local wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
    )
    done = sandbox.sh(shell, script)
    assert done.stdout.split() == ["local", "upstream", "local", "upstream"], done.stderr


@pytest.mark.parametrize("pip_variables", ["some", "none"])
@pytest.mark.parametrize("shell", SHELLS)
def test_unchanged_inputs_do_not_start_python(sandbox: Sandbox, shell: str,
                                              pip_variables: str) -> None:
    # After the first call the cached state must be enough: break the way to Python and
    # wrap must still work; then touch the config and it must try Python again. With no
    # PIP_*/UV_* variable at all, too (an empty list once emptied fish's whole key).
    if pip_variables == "none":
        for name in [n for n in sandbox.env if n.startswith(("PIP_", "UV_"))]:
            del sandbox.env[name]
    broken = "set -g __pipwrap_cli false" if shell == "fish" else "__pipwrap_cli=(false)"
    script = (
        "wrap true\n"
        f"{broken}\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        f"touch -d '2001-01-01' {sandbox.config}\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        + ("echo status=$status\n" if shell == "fish" else "echo status=$?\n")
    )
    done = sandbox.sh(shell, script)
    assert done.stdout.split() == ["local", "status=1"], done.stderr


@pytest.mark.parametrize("shell", POSIX)
def test_ctrl_c_leaves_the_shell_environment_untouched(sandbox: Sandbox, shell: str) -> None:
    argv = shells.argv_for(shell, sandbox.home, "true")[:-2]  # interactive, no -c
    env = {**sandbox.env, "PS1": "$ ", "PROMPT": "$ ", "ZDOTDIR": str(sandbox.home / ".rc-zsh")}
    text = shells.interactive(argv, env, [
        ("", 2.0),
        ("wrap sleep 30\n", 2.0),
        ("\x03", 1.0),
        ("echo \"RESULT=${PIP_INDEX_URL-unset}/${PIPWRAP_ACTIVE_PROFILE-unset}\"\n", 2.0),
        ("exit\n", 0.5),
    ])
    assert "RESULT=unset/unset" in text, text


INJECTIONS = ["$(touch PWNED)", "`touch PWNED`", "';touch PWNED;'", '";touch PWNED;"']


@pytest.mark.parametrize("shell", SHELLS)
def test_urls_and_paths_never_execute_as_shell_code(sandbox: Sandbox, shell: str) -> None:
    for payload in INJECTIONS:
        url = f"http://127.0.0.1:9/simple/{payload.replace(' ', '${IFS}')}"
        sandbox.write_config(f"default = \"x\"\n[profiles.x]\nindex-url = {json.dumps(url)}\n")
        script = "cd ~\nwrap printenv PIP_INDEX_URL\n"
        done = sandbox.sh(shell, script)
        assert not (sandbox.home / "PWNED").exists(), (payload, done.stderr)
        assert done.stdout == url + "\n", done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_config_path_with_metacharacters_is_data(sandbox: Sandbox, shell: str) -> None:
    odd = sandbox.home / "$(touch PWNED) `touch PWNED` 'q\"" / "config.toml"
    odd.parent.mkdir()
    odd.write_text(sandbox.config.read_text())
    done = sandbox.sh(shell, "cd ~\nwrap printenv PIPWRAP_ACTIVE_PROFILE\n",
                      PIPWRAP_CONFIG=str(odd))
    assert done.stdout == "local\n", done.stderr
    assert not (sandbox.home / "PWNED").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_profile_name_with_metacharacters_is_refused_not_run(sandbox: Sandbox, shell: str) -> None:
    done = sandbox.sh(shell, "cd ~\nwrap touch RAN\n", PIPWRAP_PROFILE="$(touch PWNED)")
    assert "unknown profile '$(touch PWNED)'" in done.stderr
    assert not (sandbox.home / "PWNED").exists()
    assert not (sandbox.home / "RAN").exists()


def test_path_to_checkout_with_spaces(tmp_path: Path, sandbox: Sandbox) -> None:
    checkout = tmp_path / "my checkout $(x)"
    checkout.mkdir()
    for part in ("shell", "pipwrap"):
        subprocess.run(["cp", "-r", str(REPO / part), str(checkout / part)], check=True)
    script = f"source '{checkout}/shell/init.sh'\nwrap printenv PIPWRAP_ACTIVE_PROFILE\n"
    env = {**sandbox.env, "PIPWRAP_PYTHON": sys.executable}
    done = subprocess.run(["bash", "-c", "shopt -s expand_aliases\n" + script], env=env,
                          capture_output=True, text=True, check=False)
    assert (done.stdout, done.stderr) == ("local\n", "")
