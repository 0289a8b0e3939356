"""A new shell's `pipwrap init` is served from kept code, fresh whenever pipwrap changes.

Issue 21, item 9 (a new shell cost 90-140 ms for the init line). The speed itself is in
benchmarks/bench_startup.py; these tests hold what must stay true while it is fast: the
kept code is exactly what rendering prints, it follows every change of pipwrap, and a
file someone else could write is never evaluated.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipwrap.shell.init import BOOTSTRAP
from tests.support import shells
from tests.support.shells import REPO

PROBE = ("import sys, runpy; sys.argv = ['pipwrap', *sys.argv[1:]]\n"
         "try:\n    runpy.run_module('pipwrap', run_name='__main__')\n"
         "except SystemExit:\n    pass\n"
         "print('MODULES', *sorted(sys.modules))")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return shells.isolated_env(home)


def kept_file(env: dict[str, str], name: str = "bash-wrap") -> Path:
    return Path(env["XDG_CACHE_HOME"]) / "pipwrap" / "init" / name


def init(env: dict[str, str], *args: str, tree: Path | None = None) -> str:
    """`pipwrap init ARGS` as a shell runs it: this checkout, or the package in ``tree``."""
    argv = ([sys.executable, "-I", "-c", BOOTSTRAP, str(tree)] if tree is not None else
            [sys.executable, "-m", "pipwrap"])
    done = subprocess.run([*argv, "init", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def test_a_second_shell_gets_the_kept_code_without_rendering(env: dict[str, str]) -> None:
    rendered = init(env, "bash")
    kept = kept_file(env)
    assert kept.stat().st_mode & 0o777 == 0o600
    assert kept.read_text().split("\n", 1)[1] == rendered
    done = subprocess.run([sys.executable, "-I", "-c", PROBE, "init", "bash"], env=env,
                          capture_output=True, text=True, timeout=60, check=True,
                          cwd=env["HOME"])
    served, modules = done.stdout.rsplit("MODULES ", 1)
    assert served == rendered
    # Rendering needs argparse (completion), the templates and the guard's tables.
    loaded = set(modules.split())
    assert loaded & {"argparse", "pipwrap.shell.init", "pipwrap.cli.parser",
                     "pipwrap.guard", "pipwrap.shell.templates"} == set()


def test_each_form_of_the_line_is_kept_apart(env: dict[str, str]) -> None:
    forms = [("bash",), ("zsh",), ("fish",), ("bash", "--no-completion"),
             ("zsh", "--cmd", "pw"), ("--cmd=pw", "fish", "--no-completion")]
    first = [init(env, *form) for form in forms]
    assert len(set(first)) == len(forms)
    assert [init(env, *form) for form in forms] == first
    assert "unalias pw" in first[4] and "function pw " in first[5]
    assert "complete" not in first[5] and "complete" in first[2]


def test_an_edit_of_pipwrap_is_seen_by_the_next_shell(env: dict[str, str],
                                                      tmp_path: Path) -> None:
    """An editable install or an upgrade in place: the kept code must not outlive it."""
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "pipwrap", tree / "pipwrap",
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = init(env, "zsh", tree=tree)
    assert init(env, "zsh", tree=tree) == before
    template = tree / "pipwrap" / "shell" / "templates" / "zsh.zsh"
    template.write_text(template.read_text() + "# edited-template-marker\n")
    after = init(env, "zsh", tree=tree)
    assert "# edited-template-marker" in after and after != before
    # Same size, same second: the mtime's nanoseconds and the inode still differ.
    stat = template.stat()
    template.write_text(template.read_text().replace("edited", "EDITED"))
    os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert "# EDITED-template-marker" in init(env, "zsh", tree=tree)
    # Another install of the package (another path) never shares this one's code.
    moved = tmp_path / "moved"
    shutil.copytree(tree, moved)
    assert str(moved) in init(env, "zsh", tree=moved)


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_kept_code_others_could_write_is_never_evaluated(env: dict[str, str],
                                                         mode: int) -> None:
    rendered = init(env, "bash")
    kept = kept_file(env)
    key_line = kept.read_text().split("\n", 1)[0]
    kept.write_text(f"{key_line}\necho planted-by-someone-else\n")
    kept.chmod(mode)
    assert init(env, "bash") == rendered
    assert kept.stat().st_mode & 0o777 == 0o600  # rendered again and kept afresh


def test_kept_code_with_another_key_is_rendered_again(env: dict[str, str]) -> None:
    rendered = init(env, "bash")
    kept = kept_file(env)
    kept.write_text("# pipwrap init ('0.0.1', 'elsewhere')\necho stale\n")
    kept.chmod(0o600)
    assert init(env, "bash") == rendered
    kept.unlink()
    kept.parent.rmdir()
    kept.parent.write_text("not a directory")  # nowhere to keep it: still printed
    assert init(env, "bash") == rendered


@pytest.mark.parametrize("shell", shells.SHELLS)
def test_a_new_shell_after_the_first_has_wrap(env: dict[str, str], shell: str) -> None:
    config = Path(env["PIPWRAP_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('default = "a"\n[profiles.a]\nindex-url = "http://127.0.0.1:9/simple/"\n')
    for _ in range(2):  # the first shell renders and keeps; the second is served
        done = shells.run(shell, "wrap printenv PIP_INDEX_URL", env, timeout=60)
        assert done.stdout.strip() == "http://127.0.0.1:9/simple/", done.stderr
    assert kept_file(env, f"{shell}-wrap").is_file()


def test_kept_code_reaches_a_text_only_stdout(env: dict[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`main()` called in-process with stdout redirected to a StringIO (no .buffer)."""
    import contextlib
    import io

    from pipwrap import cli

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    outputs = []
    for _ in range(2):  # rendered, then served
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            assert cli.main(["init", "fish"]) == 0
        outputs.append(captured.getvalue())
    assert kept_file(env, "fish-wrap").is_file()
    assert outputs[0] == outputs[1] and "function wrap" in outputs[0]


def test_the_uninstall_section_names_the_kept_code() -> None:
    section = (REPO / "README.md").read_text().split("## Uninstall", 1)[1].split("\n## ")[0]
    assert "`init/`" in section
