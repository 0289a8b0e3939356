"""Bad input: a clear message naming file, line or profile; non-zero; nothing runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.sandbox import Sandbox
from tests.support.shells import SHELLS


def cli(sandbox: Sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env={**sandbox.env, **env},
                          capture_output=True, text=True, check=False, cwd=sandbox.home)


BAD_CONFIGS = {
    "broken TOML": ('default = "local"\n[profiles.local]\nindex-url = "http://x/simple/\n',
                    [":", "line 3", "invalid TOML"]),
    "unknown key": ('[profiles.local]\nindex_url = "http://x/simple/"\n',
                    [":2:", "unknown key 'index_url'", "did you mean 'index-url'"]),
    "no index-url": ("[profiles.local]\n", [":1:", "has no index-url"]),
    "bad scheme": ('[profiles.local]\nindex-url = "ftp://x/simple/"\n',
                   [":2:", "must be an http://, https:// or file:// URL"]),
    "no host": ('[profiles.local]\nindex-url = "http:///simple/"\n', [":2:", "has no host"]),
    "space in URL": ('[profiles.local]\nindex-url = "http://x/a b/"\n',
                     [":2:", "spaces or control characters"]),
    "newline in URL": ('[profiles.local]\nindex-url = "http://x/a\\nb/"\n',
                       [":2:", "spaces or control characters"]),
    "bad port": ('[profiles.local]\nindex-url = "http://x:99999/"\n', [":2:", "invalid port"]),
    "bad profile name": ('[profiles."a$(b)"]\nindex-url = "http://x/"\n',
                         [":1:", "invalid profile name 'a$(b)'"]),
    "default undefined": ('default = "nope"\n[profiles.local]\nindex-url = "http://x/"\n',
                          [":1:", "default profile 'nope' is not defined", "known profiles: local"]),
    "wrong type": ('[profiles.local]\nindex-url = 3\n', [":2:", "must be a string"]),
    "unknown top-level": ('defualt = "x"\n', [":1:", "unknown top-level key 'defualt'"]),
    "not UTF-8": (b"\xff\xfe".decode("latin-1"), ["not UTF-8"]),
    # a fallback is read by the fence itself: http(s) only, and the message says only that
    "fallback without scheme": ('[profiles.local]\nindex-url = "http://x/simple/"\n'
                                'fallback = ["pypi.org"]\n',
                                [":3:", "fallback URL 1 must be an http:// or https:// URL"]),
    "fallback on a file index": ('[profiles.local]\nindex-url = "file:///srv/simple/"\n'
                                 'fallback = ["https://pypi.org/simple/"]\n',
                                 [":3:", "pipwrap serve --repo DIR"]),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_is_reported_with_file_and_line(sandbox: Sandbox, case: str) -> None:
    text, expected = BAD_CONFIGS[case]
    sandbox.config.write_bytes(text.encode("latin-1" if case == "not UTF-8" else "utf-8"))
    done = cli(sandbox, "run", "--", "touch", "RAN")
    assert done.returncode == 2
    assert str(sandbox.config) in done.stderr
    for fragment in expected:
        assert fragment in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (sandbox.home / "RAN").exists()


def test_missing_config_says_where_and_shows_an_example(sandbox: Sandbox) -> None:
    sandbox.config.unlink()
    done = cli(sandbox, "env")
    assert done.returncode == 2
    assert f"no config file at {sandbox.config}" in done.stderr
    assert "[profiles.local]" in done.stderr and "index-url" in done.stderr


def test_default_location_is_the_xdg_config_dir(sandbox: Sandbox) -> None:
    env = dict(sandbox.env)
    del env["PIPWRAP_CONFIG"]
    done = subprocess.run([sys.executable, "-m", "pipwrap", "current"], env=env,
                          capture_output=True, text=True, check=False)
    # The sandbox config already lives at $XDG_CONFIG_HOME/pipwrap/config.toml.
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("local ")


def test_unknown_profile_names_it_and_lists_known(sandbox: Sandbox) -> None:
    done = cli(sandbox, "env", PIPWRAP_PROFILE="corp")
    assert done.returncode == 2
    assert "unknown profile 'corp' (from PIPWRAP_PROFILE)" in done.stderr
    assert "known profiles: local, upstream" in done.stderr


def test_no_default_and_no_choice(sandbox: Sandbox) -> None:
    sandbox.write_config('[profiles.a]\nindex-url = "http://127.0.0.1/simple/"\n')
    done = cli(sandbox, "env")
    assert done.returncode == 2
    assert "sets no 'default'" in done.stderr and "known profiles: a" in done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_wrap_runs_nothing_on_bad_config(sandbox: Sandbox, shell: str) -> None:
    sandbox.write_config("default = \n")
    status = "$status" if shell == "fish" else "$?"
    done = sandbox.sh(shell, f"cd ~\nwrap touch RAN\necho status={status}\n")
    assert "invalid TOML" in done.stderr and "line 1" in done.stderr
    assert done.stdout.strip() == "status=2"
    assert not (sandbox.home / "RAN").exists()
    assert "Traceback" not in done.stderr


def test_credentials_in_config_are_never_printed(sandbox: Sandbox) -> None:
    sandbox.write_config(
        'default = "corp"\n[profiles.corp]\n'
        'index-url = "https://alice:hunter2@pkgs.example.com/simple/?token=tok3n"\n'
    )
    outputs = [cli(sandbox, *args) for args in (["env"], ["env", "--format", "json"],
                                                ["list"], ["show", "corp"], ["current"],
                                                ["env", "--format", "fish"])]
    outputs.append(cli(sandbox, "env", PIPWRAP_PROFILE="nope"))
    for done in outputs:
        assert "hunter2" not in done.stdout + done.stderr
        assert "tok3n" not in done.stdout + done.stderr
    # The login moved out of the URL into the fence; no netrc is written.
    assert "alice" not in outputs[0].stdout.split("PIP_INDEX_URL=", 1)[1].split("\n")[0]
    assert "NETRC" not in outputs[0].stdout
    assert not list(sandbox.home.rglob("netrc"))


def test_run_without_command_and_unknown_command(sandbox: Sandbox) -> None:
    done = cli(sandbox, "run")
    assert done.returncode == 2 and "no command given" in done.stderr
    done = cli(sandbox, "run", "--", "no-such-command-xyz")
    # 127, as env(1) and the shells (and so `wrap`) say for a command that is not there.
    assert done.returncode == 127 and "command not found: no-such-command-xyz" in done.stderr
    done = cli(sandbox, "frobnicate")
    assert done.returncode == 2 and "unknown command 'frobnicate'" in done.stderr


@pytest.mark.parametrize("name", ["foo bar", "foo/../bar", "foo-", "foo?x=1"])
def test_explain_refuses_a_name_that_is_no_project_name(sandbox: Sandbox, name: str) -> None:
    # Nothing listens on port 9: a name that got as far as a request would fail there.
    sandbox.config.write_text('default = "corp"\n[profiles.corp]\n'
                              'index-url = "http://127.0.0.1:9/simple/"\n'
                              'fallback = ["http://127.0.0.1:9/other/"]\n')
    done = cli(sandbox, "explain", name)
    assert done.returncode == 2, done
    assert done.stderr == (f"pipwrap: explain: {name!r} is not a project name (letters, "
                           "digits, and '.', '_' or '-' between them)\n")
