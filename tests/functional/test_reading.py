"""The reading commands' fast path: what they import, the config snapshot, XDG paths.

Speed itself is measured in benchmarks/bench.py; these tests pin down the structure that
makes it fast (no heavy imports once the config is known) and prove the shortcuts never
change an answer.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from pipwrap import paths
from pipwrap.profiles import snapshot
from tests.support.sandbox import Sandbox

# Each of these costs milliseconds to import; the interpreter itself starts in about 8.
HEAVY = {
    "argparse", "tomllib", "tomli", "re", "pathlib", "platformdirs", "dataclasses", "typing",
    "json", "hashlib", "_hashlib", "urllib.parse", "inspect", "importlib.resources",
}
PROBE = (
    "import sys\n"
    "from pipwrap.cli import main\n"
    "status = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "print('MODULES', *sorted(sys.modules))\n"
)


def cli(sandbox: Sandbox, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env=sandbox.env,
                          capture_output=True, text=True, check=False, cwd=cwd or sandbox.home)


def imported_by(sandbox: Sandbox, *args: str, cwd: Path | None = None) -> set[str]:
    done = subprocess.run([sys.executable, "-I", "-c", PROBE, *args], env=sandbox.env,
                          capture_output=True, text=True, check=True, cwd=cwd or sandbox.home)
    assert done.stderr == ""
    line = done.stdout.splitlines()[-1]
    assert line.startswith("MODULES ")
    return set(line.split()[1:])


def baseline(sandbox: Sandbox) -> set[str]:
    done = subprocess.run([sys.executable, "-I", "-c", "import sys; print(*sys.modules)"],
                          env=sandbox.env, capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def snapshot_file(sandbox: Sandbox) -> Path:
    return Path(sandbox.env["XDG_CACHE_HOME"]) / "pipwrap" / "config.snapshot"


def test_reading_commands_skip_heavy_imports_once_the_config_is_known(sandbox: Sandbox) -> None:
    allowed = baseline(sandbox)
    first = imported_by(sandbox, "list")
    assert "tomllib" in first or "tomli" in first  # the first read parses: the check can fail
    for command in ("list", "current", "_names"):
        heavy = (imported_by(sandbox, command) & HEAVY) - allowed
        assert heavy == set(), command


def test_an_allowed_directory_file_costs_no_heavy_import(sandbox: Sandbox) -> None:
    project = sandbox.home / "proj"
    project.mkdir()
    (project / ".pipwrap.toml").write_text('profile = "upstream"\n')
    assert cli(sandbox, "allow", str(project)).returncode == 0
    assert cli(sandbox, "current", cwd=project).stdout.startswith("upstream ")
    heavy = (imported_by(sandbox, "current", cwd=project) & HEAVY) - baseline(sandbox)
    assert heavy == set()


def test_plain_forms_answer_like_argparse(sandbox: Sandbox) -> None:
    # `--js` is an abbreviation only argparse understands, so it takes the long way round.
    for command in ("list", "current"):
        quick = cli(sandbox, command, "--json")
        parsed = cli(sandbox, command, "--js")
        assert quick.returncode == parsed.returncode == 0
        assert quick.stdout == parsed.stdout
    helped = cli(sandbox, "list", "--help")
    assert helped.returncode == 0 and "usage: pipwrap list" in helped.stdout


@pytest.mark.parametrize("argv", [
    ["pip", "install", "foo"],
    ["pip", "install", "--extra-index-url", "http://127.0.0.1:1/simple/", "foo"],
    ["python", "-m", "pip", "install", "-iURL", "foo"],
])
def test_check_answers_alike_with_and_without_dashdash(sandbox: Sandbox, argv: list[str]) -> None:
    quick = cli(sandbox, "check", "--", *argv)  # the form the shell uses, matched by hand
    parsed = cli(sandbox, "check", *argv)  # argparse's REMAINDER
    assert (quick.returncode, quick.stdout, quick.stderr) == (
        parsed.returncode, parsed.stdout, parsed.stderr)
    assert quick.returncode == (0 if argv[-2:] == ["install", "foo"] else 3)


def test_an_edit_keeping_size_and_mtime_is_still_seen(sandbox: Sandbox) -> None:
    sandbox.write_config('default = "a"\n[profiles.a]\nindex-url = "http://127.0.0.1:8080/simple/"\n')
    assert "127.0.0.1:8080" in cli(sandbox, "list").stdout
    assert snapshot_file(sandbox).is_file()
    before = sandbox.config.stat()
    sandbox.write_config('default = "a"\n[profiles.a]\nindex-url = "http://127.0.0.1:9090/simple/"\n')
    os.utime(sandbox.config, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert sandbox.config.stat().st_size == before.st_size
    assert "127.0.0.1:9090" in cli(sandbox, "list").stdout


def test_a_config_broken_after_a_snapshot_is_still_refused(sandbox: Sandbox) -> None:
    assert cli(sandbox, "list").returncode == 0
    sandbox.write_config('default = "local"\n[profiles.local]\nindex_url = "http://x/"\n')
    done = cli(sandbox, "current")
    assert done.returncode == 2
    assert f"{sandbox.config}:3:" in done.stderr and "did you mean 'index-url'" in done.stderr


def test_a_literal_password_is_never_copied_into_the_snapshot(sandbox: Sandbox) -> None:
    assert cli(sandbox, "list").returncode == 0  # leaves an entry for this config
    sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                         'index-url = "https://alice:s3cr3t-pw@pkgs.example/simple/"\n')
    done = cli(sandbox, "list")
    assert "alice:****@pkgs.example" in done.stdout and "s3cr3t-pw" not in done.stdout
    for path in Path(sandbox.env["XDG_CACHE_HOME"]).rglob("*"):
        if path.is_file():
            assert b"s3cr3t-pw" not in path.read_bytes(), path
    _, entries = marshal.loads(snapshot_file(sandbox).read_bytes())
    assert str(sandbox.config) not in entries


def _forge(sandbox: Sandbox, url: str) -> None:
    """Rewrite this config's snapshot entry to claim the default profile's URL is ``url``."""
    header, entries = marshal.loads(snapshot_file(sandbox).read_bytes())
    data, default, rows = entries[str(sandbox.config)]
    rows = [(row[0], url, url, *row[3:]) if row[0] == default else row for row in rows]
    entries[str(sandbox.config)] = (data, default, rows)
    snapshot_file(sandbox).write_bytes(marshal.dumps((header, entries)))


def test_a_snapshot_others_can_write_is_ignored(sandbox: Sandbox) -> None:
    assert cli(sandbox, "current").returncode == 0
    _forge(sandbox, "http://forged.example/simple/")
    snapshot_file(sandbox).chmod(0o600)
    # The user's own private snapshot is trusted like config.toml itself...
    assert "forged.example" in cli(sandbox, "current").stdout
    _forge(sandbox, "http://forged.example/simple/")
    snapshot_file(sandbox).chmod(0o620)
    # ...one that someone else could have written is not.
    done = cli(sandbox, "current")
    assert done.returncode == 0 and "forged" not in done.stdout, done.stdout
    assert "127.0.0.1" in done.stdout


@pytest.mark.parametrize("junk", [b"", b"\x00garbage", marshal.dumps(("other", 1)),
                                  marshal.dumps((snapshot._HEADER, {"x": 1}))])
def test_a_damaged_snapshot_is_ignored(sandbox: Sandbox, junk: bytes) -> None:
    expected = cli(sandbox, "list").stdout
    snapshot_file(sandbox).write_bytes(junk)
    done = cli(sandbox, "list")
    assert (done.returncode, done.stdout, done.stderr) == (0, expected, "")


@pytest.mark.parametrize("xdg", [None, "/abs/xdg", "relative/xdg", "", "  "])
@pytest.mark.parametrize("home", ["/home/someone", "relative-home"])
def test_directories_match_platformdirs(monkeypatch: pytest.MonkeyPatch, xdg: str | None,
                                        home: str) -> None:
    monkeypatch.setenv("HOME", home)
    for variable in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        if xdg is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, xdg)
    assert paths.user_config_dir() == platformdirs.user_config_dir("pipwrap", appauthor=False)
    assert paths.user_cache_dir() == platformdirs.user_cache_dir("pipwrap", appauthor=False)
    assert paths.user_data_dir() == platformdirs.user_data_dir("pipwrap", appauthor=False)


def test_no_home_anywhere_is_a_clear_error_and_pipwrap_config_still_works(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A container user with no HOME and no passwd entry: nowhere to find config.toml.
    import pwd

    from pipwrap import cli

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    monkeypatch.delenv("HOME", raising=False)
    for variable in ("PIPWRAP_CONFIG", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(variable, raising=False)
    assert cli.main(["list"]) == 2
    assert "cannot tell where your home directory is" in capsys.readouterr().err
    config = tmp_path / "c.toml"
    config.write_text('default = "a"\n[profiles.a]\nindex-url = "http://127.0.0.1:1/simple/"\n')
    monkeypatch.setenv("PIPWRAP_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    assert cli.main(["current"]) == 0  # no cache dir: the snapshot is simply skipped
    assert capsys.readouterr().out.startswith("a  http://127.0.0.1:1/simple/")
    (tmp_path / ".pipwrap.toml").write_text('profile = "a"\n')
    assert cli.main(["current"]) == 2  # the allow store needs a data dir
    assert "cannot tell where your home directory is" in capsys.readouterr().err


# What `wrap`'s own calls into Python may load: the guard for `check`, the profile and
# the shell's rendering for `_state`; never argparse, another command's module, the
# hosting half, the style-preserving TOML editor or uv's option table for a pip line.
NEVER_ON_WRAPS_PATH = {"argparse", "tomlkit", "pipwrap.repo", "pipwrap.cli.parser",
                       "pipwrap.guard.uv_table", "pipwrap.shell.init",
                       "pipwrap.shell.completion"}


@pytest.mark.parametrize("argv", [
    ["check", "--", "pip", "install", "foo"],
    ["_state", "bash", "--pid", "1"],
    ["_state", "fish", "--pid", "1"],
])
def test_wraps_calls_into_python_stay_lean(sandbox: Sandbox, argv: list[str]) -> None:
    loaded = imported_by(sandbox, *argv)
    assert loaded & NEVER_ON_WRAPS_PATH == set()
    commands = {m for m in loaded if m.startswith("pipwrap.commands.")}
    assert commands <= {"pipwrap.commands.check", "pipwrap.commands.common",
                        "pipwrap.commands.state"}
    if argv[0] == "check":
        assert not any(m.startswith("pipwrap.shell") for m in loaded)
