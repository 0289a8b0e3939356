"""The built-in `local` profile as a choice like any other, upload URLs on existing
profiles, `pipwrap test` of `local`, nested typos, `list`'s marks and what --help and the
README promise (issue 21, items 8 and 9)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.support import shells
from tests.support.sandbox import Indexes, Sandbox

REPO = Path(__file__).resolve().parents[2]
BUILTIN_URL = "http://127.0.0.1:8080/simple/"
BUILTIN_UPLOAD = "http://127.0.0.1:8080/"


def cli(sandbox: Sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env={**sandbox.env, **env},
                          capture_output=True, text=True, check=False, cwd=sandbox.home,
                          timeout=60, stdin=subprocess.DEVNULL)


def assert_clean_error(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("pipwrap: "), done.stderr


def test_default_local_is_accepted_after_another_profile_was_added(sandbox: Sandbox) -> None:
    sandbox.config.unlink()
    added = cli(sandbox, "add", "corp", "https://pkgs.example.com/simple/")
    assert added.returncode == 0 and "now the default" in added.stdout, added.stderr
    chosen = cli(sandbox, "default", "local")
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip() == "default profile: local"
    current = cli(sandbox, "current", "--json")
    assert current.returncode == 0, current.stderr
    assert json.loads(current.stdout)["index_url"] == BUILTIN_URL
    assert json.loads(cli(sandbox, "show", "--json").stdout)["upload_url"] == BUILTIN_UPLOAD
    # The file names the built-in profile without defining it, and stays valid for wrap.
    assert "[profiles.local]" not in sandbox.config.read_text()
    done = sandbox.sh("bash", "wrap printenv PIPWRAP_ACTIVE_PROFILE\n")
    assert done.stdout.strip() == "local", done.stderr
    assert cli(sandbox, "default", "corp").returncode == 0


def test_a_config_whose_default_is_the_builtin_local_is_valid(sandbox: Sandbox) -> None:
    sandbox.write_config('default = "local"\n[profiles.corp]\nindex-url = '
                         '"https://pkgs.example.com/simple/"\n')
    done = cli(sandbox, "list")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^>\* local +http://127\.0\.0\.1:8080/simple/ +\(built in\)$",
                     done.stdout, re.MULTILINE), done.stdout


def test_adding_local_keeps_the_builtin_upload_url(sandbox: Sandbox) -> None:
    sandbox.config.unlink()
    done = cli(sandbox, "add", "local", BUILTIN_URL)
    assert done.returncode == 0, done.stderr
    assert "upload-url" in done.stderr and BUILTIN_UPLOAD in done.stderr, done.stderr
    shown = json.loads(cli(sandbox, "show", "local", "--json").stdout)
    assert shown["upload_url"] == BUILTIN_UPLOAD
    # Told otherwise, it is the user's.
    done = cli(sandbox, "add", "--force", "local", BUILTIN_URL, "--upload-url",
               "http://127.0.0.1:9999/")
    assert done.returncode == 0, done.stderr
    shown = json.loads(cli(sandbox, "show", "local", "--json").stdout)
    assert shown["upload_url"] == "http://127.0.0.1:9999/"


def test_set_url_sets_and_removes_the_upload_url_of_an_existing_profile(
        sandbox: Sandbox, indexes: Indexes) -> None:
    before = sandbox.config.read_text()
    done = cli(sandbox, "set-url", "upstream", "--upload-url", "https://up.example/legacy/")
    assert done.returncode == 0, done.stderr
    assert "upstream: upload-url = https://up.example/legacy/" in done.stdout
    shown = json.loads(cli(sandbox, "show", "upstream", "--json").stdout)
    assert shown["upload_url"] == "https://up.example/legacy/"
    assert shown["index_url"] == indexes.upstream.url  # the index URL is kept
    assert before.splitlines()[0] in sandbox.config.read_text()
    # A login in it is refused, naming the argument, and nothing is written.
    text = sandbox.config.read_text()
    bad = cli(sandbox, "set-url", "upstream", "--upload-url", "https://u:pw@up.example/")
    assert_clean_error(bad)
    assert "upload-url" in bad.stderr and "pw@" not in bad.stderr
    assert sandbox.config.read_text() == text
    gone = cli(sandbox, "set-url", "upstream", "--no-upload-url")
    assert gone.returncode == 0, gone.stderr
    assert "upload_url" not in json.loads(cli(sandbox, "show", "upstream", "--json").stdout)
    nothing = cli(sandbox, "set-url", "upstream")
    assert_clean_error(nothing)
    assert "--upload-url" in nothing.stderr


def test_set_url_on_the_builtin_local_keeps_its_upload_url(sandbox: Sandbox) -> None:
    sandbox.write_config('default = "corp"\n[profiles.corp]\nindex-url = '
                         '"https://pkgs.example.com/simple/"\n')
    done = cli(sandbox, "set-url", "local", "http://127.0.0.1:9090/simple/")
    assert done.returncode == 0, done.stderr
    shown = json.loads(cli(sandbox, "show", "local", "--json").stdout)
    assert shown == {"name": "local", "index_url": "http://127.0.0.1:9090/simple/",
                     "upload_url": BUILTIN_UPLOAD}


def test_the_builtin_local_errors_suggest_what_keeps_its_upload_url(sandbox: Sandbox) -> None:
    sandbox.write_config('default = "corp"\n[profiles.corp]\nindex-url = '
                         '"https://pkgs.example.com/simple/"\n')
    done = cli(sandbox, "rename", "local", "mine")
    assert_clean_error(done)
    assert "built in" in done.stderr and "pipwrap set-url local URL" in done.stderr
    assert "pipwrap add local" not in done.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_pipwrap_test_includes_the_builtin_local(sandbox: Sandbox, indexes: Indexes) -> None:
    sandbox.write_config(f'default = "up"\n[profiles.up]\nindex-url = "{indexes.upstream.url}"\n')
    with socket.socket() as taken:
        try:
            taken.connect(("127.0.0.1", 8080))
            serving_here = True
        except OSError:
            serving_here = False
    done = cli(sandbox, "test")
    lines = done.stdout.splitlines()
    assert any(line.split()[1] == "local" for line in lines if line.split()), done.stdout
    local = next(line for line in lines if line.split() and line.split()[1] == "local")
    if not serving_here:
        assert "pipwrap serve" in local and "not running" in local, local
        # The built-in profile nobody chose does not fail the run; named, it does.
        assert done.returncode == 0, done.stdout + done.stderr
        named = cli(sandbox, "test", "local")
        assert named.returncode == 1 and "not running" in named.stdout
    data = json.loads(cli(sandbox, "test", "--json").stdout)
    assert {r["profile"] for r in data["results"]} == {"local", "up"}


def test_a_nested_typo_gets_a_suggestion(sandbox: Sandbox) -> None:
    done = cli(sandbox, "repo", "ad", "x.whl")
    assert_clean_error(done)
    assert "did you mean 'add'?" in done.stderr, done.stderr
    assert "usage:" not in done.stderr
    done = cli(sandbox, "config", "pth")
    assert_clean_error(done)
    assert "did you mean 'path'?" in done.stderr, done.stderr
    done = cli(sandbox, "repo", "zzzzzz")
    assert_clean_error(done)
    assert "unknown repo action 'zzzzzz'" in done.stderr and "nginx-conf" in done.stderr


def test_list_explains_its_marks_at_a_terminal_only(sandbox: Sandbox) -> None:
    piped = cli(sandbox, "list")
    assert piped.returncode == 0
    # Scripts read one profile per line, marks first: unchanged when not at a terminal.
    assert all(re.match(r"^[> ][* ] \S+ +\S+", line) for line in piped.stdout.splitlines()), \
        piped.stdout
    env = {**sandbox.env, "TERM": "dumb"}
    text = shells.interactive([sys.executable, "-m", "pipwrap", "list"], env, [("", 3.0)])
    assert "> = the profile `wrap` uses here, * = the default" in text, text


def test_get_started_in_help_says_what_the_readme_quick_start_says(sandbox: Sandbox) -> None:
    helped = cli(sandbox, "--help").stdout
    started = helped.split("Get started", 1)[1].split("\n\n", 1)[0]
    commands = [line.strip().split("  ")[0] for line in started.splitlines()[1:]]
    readme = (REPO / "README.md").read_text()
    quick = readme.split("<!-- quick-start: bash -->", 1)[1].split("```bash\n", 1)[1]
    quick_lines = [line.split("#")[0].strip() for line in quick.split("```", 1)[0].splitlines()]
    # Each step of --help's "Get started" is a step of the quick start, in the same order.
    at = -1
    for command in commands:
        head = " ".join(command.split()[:3]) if command.startswith("pipwrap repo") else \
            " ".join(command.split()[:2])
        found = [i for i, line in enumerate(quick_lines) if line.startswith(head)]
        assert found and found[0] > at, (command, quick_lines)
        at = found[0]
    assert not any(c.startswith("pipwrap add local") for c in commands), started


def test_readme_lists_every_runtime_dependency() -> None:
    from pipwrap.tomlfile import toml_module

    project = toml_module().loads((REPO / "pyproject.toml").read_text())["project"]
    readme = (REPO / "README.md").read_text()
    listed = readme.split("Dependencies:", 1)[1].split("\n\n", 1)[0]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=;\s\[]", requirement, maxsplit=1)[0]
        assert f"`{name}`" in listed, (name, listed)


def test_an_unknown_profile_lists_the_builtin_local_too(sandbox: Sandbox) -> None:
    """The new-user pass: `pipwrap default nosuch` listed the file's profiles without
    `local`, which `default` takes and `show`/`use` list."""
    sandbox.config.unlink(missing_ok=True)
    assert cli(sandbox, "add", "corp", "https://pkgs.example.com/simple/").returncode == 0
    done = cli(sandbox, "default", "nosuch")
    assert done.returncode == 2, done.stderr
    assert "known profiles: corp, local" in done.stderr, done.stderr
    assert "did you mean 'local'" in cli(sandbox, "default", "locl").stderr
