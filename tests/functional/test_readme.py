"""The README's and the docs' examples, run as a new user would type them.

README's quick start (the block after ``<!-- quick-start: bash -->``) runs exactly as
written on a machine with nothing of pipwrap: ``pipx install pipwrap-cli`` from a stand-in
for PyPI holding the wheel built from this checkout, a wheel of the user's own, ``repo
add``, ``serve &`` on port 8080 (in a network namespace of its own where one can be made)
and ``wrap pip install`` from there.

A fenced block preceded by ``<!-- runnable: SHELL... -->`` is part of its page's
walk-through for those shells: README.md and every docs/*.md page. A page's blocks are run
in order, in one shell session per shell, in a fresh sandbox (own HOME, no config, no
PIP_*/UV_*) where `pipwrap` is on PATH and the example indexes are the test's local
pypiserver. A docs page starts where the README leaves a user: the shell line loaded and
a venv active.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import dist
from tests.support.port8080 import on_port_8080, run_leaving_jobs
from tests.support.sandbox import Built, Indexes, Sandbox, installed
from tests.support.shells import REPO, SHELLS

README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
EXAMPLE_INDEXES = ("http://127.0.0.1:8080/simple/", "https://pkgs.example.com/simple/")
BLOCK = re.compile(r"<!-- runnable: ([a-z ]+) -->\n```[a-z]*\n(.*?)```", re.DOTALL)
QUICK_START = re.compile(r"<!-- quick-start: bash -->\n```bash\n(.*?)```", re.DOTALL)
# Written on other branches; linked from README before they land.
PENDING_PAGES: set[str] = set()


def runnable_blocks(shell: str, page: Path = README) -> list[str]:
    return [code for shells, code in BLOCK.findall(page.read_text())
            if shell in shells.split()]


def walk_throughs() -> list[tuple[str, str]]:
    return [(page.relative_to(REPO).as_posix(), shell) for page in PAGES for shell in SHELLS
            if runnable_blocks(shell, page)]


def shell_argv(shell: str, script: Path) -> list[str]:
    # Interactive, with no rc files of the user's: what a new terminal reads line by line.
    if shell == "bash":
        return ["bash", "--noprofile", "--norc", "-i", "-c", f"source '{script}'"]
    if shell == "zsh":
        return ["zsh", "-f", "-i", "-c", f"source '{script}'"]
    return ["fish", "--no-config", "-c", f"source '{script}'"]


def bin_dir(home: Path, with_pipwrap: bool) -> Path:
    """A PATH entry holding `python3` (and `pipwrap`, as pipx would put it there)."""
    path = home / ("bin" if with_pipwrap else "bin-without-pipwrap")
    path.mkdir(exist_ok=True)
    (path / "python3").symlink_to(sys.executable)
    if with_pipwrap:
        shim = path / "pipwrap"
        shim.write_text(f"#!/bin/sh\nexec '{sys.executable}' -m pipwrap \"$@\"\n")
        shim.chmod(0o755)
    return path


def run(sandbox: Sandbox, shell: str, script: str, *, with_pipwrap: bool = True,
        timeout: float = 240) -> subprocess.CompletedProcess[str]:
    work = sandbox.home / "work"
    work.mkdir(exist_ok=True)
    script_file = sandbox.home / f"readme.{shell}"
    script_file.write_text(script)
    env = dict(sandbox.env)
    env["PATH"] = f"{bin_dir(sandbox.home, with_pipwrap)}:/usr/local/bin:/usr/bin:/bin"
    return subprocess.run(shell_argv(shell, script_file), env=env, cwd=work,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def test_the_readme_marks_blocks_for_every_shell() -> None:
    for shell in SHELLS:
        assert len(runnable_blocks(shell)) >= 2, shell
    assert len(QUICK_START.findall(README.read_text())) == 1


def test_the_readme_is_short_and_its_quick_start_comes_first() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    headings = re.findall(r"(?m)^## (.*)$", text)
    assert headings[0] == "Quick start", headings
    # The first screen: the quick start ends within the first 50 lines.
    assert text.index("wrap pip install hello-pipwrap") < len("\n".join(text.splitlines()[:50]))
    for needed in ("Install", "Uninstall", "Development"):
        assert needed in headings, needed
    assert "./scripts/test.sh" in text and "./scripts/demo.sh" in text


def test_every_linked_page_exists() -> None:
    for page in [*PAGES, REPO / "CONTRIBUTING.md"]:
        text = page.read_text()
        links = re.findall(r"https://github\.com/pipwrap-dev/pipwrap-cli/blob/main/([^\s)#>]+)",
                           text)
        links += [(page.parent / target).resolve().relative_to(REPO).as_posix()
                  for target in re.findall(r"\]\((?!https?:)([^)#\s]+)", text)]
        for target in links:
            if target in PENDING_PAGES and not (REPO / target).exists():
                continue  # lands with its own branch
            assert (REPO / target).exists(), (page.name, target)


def test_every_row_of_the_security_table_names_its_test() -> None:
    rows = [line for line in (REPO / "docs/security.md").read_text().splitlines()
            if line.startswith("| ") and not line.startswith(("| vector", "|---"))]
    assert len(rows) > 20
    for row in rows:
        named = re.findall(r"test_\w+\.py", row.rsplit("|", 2)[-2])
        assert named, row
        for name in named:
            assert list((REPO / "tests").glob(f"*/{name}")), (name, row)


def test_the_uninstall_section_names_every_file_pipwrap_leaves() -> None:
    section = README.read_text().split("## Uninstall", 1)[1].split("\n## ", 1)[0]
    for needed in ("~/.config/pipwrap/", "$PIPWRAP_CONFIG", "~/.cache/pipwrap/",
                   "config.snapshot", "stamps/", "netrc/", "secrets/", "fence-agent/",
                   "~/.local/share/pipwrap/", "allowed", "repo/", "$PIPWRAP_REPO", "fence/",
                   "private key", "uv/", "keyring", ".pipwrap.toml", "pipx uninstall pipwrap-cli",
                   "uv tool uninstall pipwrap-cli"):
        assert needed in section, needed


@pytest.mark.parametrize("page,shell", walk_throughs())
def test_the_walk_through_works(sandbox: Sandbox, indexes: Indexes, page: str,
                                shell: str) -> None:
    sandbox.config.unlink()  # a new user
    blocks = runnable_blocks(shell, REPO / page)
    if page != "README.md":
        activate = ("source .venv/bin/activate.fish" if shell == "fish"
                    else ". .venv/bin/activate")
        setup = "\n".join(runnable_blocks(shell)[:1])
        blocks = [setup, "pipwrap add corp https://pkgs.example.com/simple/\n",
                  f"python3 -m venv .venv && {activate}\n", *blocks]
    script = "\n".join(blocks)
    for example in EXAMPLE_INDEXES:
        script = script.replace(example, indexes.local.url)
    assert indexes.local.url in script
    # Proof that the shell line defined `wrap` and the first profile is the one it uses.
    script += "\nwrap printenv PIPWRAP_ACTIVE_PROFILE\n"
    done = run(sandbox, shell, script)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "now the default" in done.stdout, output
    assert done.stdout.rstrip().endswith("corp"), output
    assert "command not found" not in output and "Traceback" not in output
    if page == "README.md":
        assert re.search(r"^ok +corp ", done.stdout, re.MULTILINE), output
    if "wrap pip install foo" in script or "wrap _p install foo" in script:
        site = next((sandbox.home / "work/.venv/lib").glob("python*/site-packages"))
        assert installed(site) == ("local", "1.0"), output


@pytest.mark.parametrize("shell", SHELLS)
def test_the_guarded_shell_line_is_harmless_without_pipwrap(sandbox: Sandbox,
                                                            shell: str) -> None:
    line = runnable_blocks(shell)[0]
    assert "pipwrap init" in line
    done = run(sandbox, shell, line + "\necho alive\n", with_pipwrap=False)
    assert done.stdout.strip() == "alive", done.stdout + done.stderr
    assert "pipwrap" not in done.stderr, done.stderr


# -- the quick start, on a machine with nothing of pipwrap ------------------------------


def test_the_quick_start_runs_as_written(built: Built, tmp_path: Path) -> None:
    (quick_start,) = QUICK_START.findall(README.read_text())
    home = tmp_path / "home"
    tools = home / "tools"
    tools.mkdir(parents=True)
    (tools / "python3").symlink_to(sys.executable)
    (tools / "pipx").symlink_to(Path(sys.executable).parent / "pipx")
    work = home / "work"
    work.mkdir()
    from tests.support.shells import isolated_env

    env = isolated_env(home)
    env.pop("PIPWRAP_CONFIG")  # nothing of pipwrap: no config either
    env["PATH"] = f"{home}/.local/bin:{tools}:/usr/bin:/bin"  # pipx puts pipwrap first
    env.update(dist.from_stand_in(built.pypi))  # "PyPI"
    check = ('\npython -c "import hello_pipwrap as h; print(\'imported\', h.__file__)"\n'
             'echo "pipwrap is $(type -P pipwrap)"\n')
    script = home / "quick-start.bash"
    script.write_text(quick_start + check)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with on_port_8080() as prefix:
        argv = [*prefix, "bash", "--noprofile", "--norc", "-i", "-c", f"source '{script}'"]
        status = run_leaving_jobs(argv, env, work, out, err, timeout=420)
    output = out.read_text() + err.read_text()
    assert status == 0, output
    assert "Traceback" not in output and "command not found" not in output, output
    assert f"pipwrap is {home}/.local/bin/pipwrap" in output, output
    assert "now available" in output or "installed package pipwrap-cli" in output, output
    assert "added: hello-pipwrap/hello_pipwrap-1.0-py3-none-any.whl" in output, output
    assert "at http://127.0.0.1:8080/simple/" in output, output
    assert "Looking in indexes: http://127.0.0.1:8080/simple/" in output, output
    assert "Successfully installed hello-pipwrap-1.0" in output, output
    site = next((work / ".venv/lib").glob("python*/site-packages"))
    assert f"imported {site}/hello_pipwrap/__init__.py" in output, output
