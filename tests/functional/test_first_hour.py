"""A new user's first hour (issue 11): commands people expect, errors, one JSON style."""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipwrap.errors import PipwrapError
from tests.support.sandbox import Indexes, Sandbox, write_file


def cli(sandbox: Sandbox, *args: str, cwd: Path | None = None,
        **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env={**sandbox.env, **env},
                          capture_output=True, text=True, check=False, cwd=cwd or sandbox.home)


def assert_clean_error(done: subprocess.CompletedProcess[str], status: int = 2) -> None:
    assert done.returncode == status, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr


# -- the command line -------------------------------------------------------------------


def test_no_arguments_prints_help_to_stderr_and_exits_2(sandbox: Sandbox) -> None:
    done = cli(sandbox)
    assert_clean_error(done)
    assert done.stdout == ""
    assert "usage: pipwrap" in done.stderr and "COMMAND" in done.stderr


@pytest.mark.parametrize("typed,suggested", [("lsit", "list"), ("isntall", None),
                                             ("curent", "current"), ("stat", None)])
def test_a_mistyped_command_gets_a_suggestion_and_no_internal_names(
        sandbox: Sandbox, typed: str, suggested: str | None) -> None:
    done = cli(sandbox, typed)
    assert_clean_error(done)
    assert f"unknown command {typed!r}" in done.stderr
    if suggested:
        assert f"did you mean {suggested!r}?" in done.stderr
    assert "_state" not in done.stderr and "_names" not in done.stderr
    helped = cli(sandbox, "--help")
    assert "_state" not in helped.stdout and "_names" not in helped.stdout


def test_help_command(sandbox: Sandbox) -> None:
    done = cli(sandbox, "help")
    assert done.returncode == 0 and "usage: pipwrap" in done.stdout
    add = cli(sandbox, "help", "add")
    assert add.returncode == 0 and "usage: pipwrap add" in add.stdout


def test_ls_and_rm_are_list_and_remove(sandbox: Sandbox) -> None:
    listed = cli(sandbox, "ls")
    assert listed.returncode == 0 and listed.stdout == cli(sandbox, "list").stdout
    assert json.loads(cli(sandbox, "ls", "--json").stdout)["profiles"]
    removed = cli(sandbox, "rm", "upstream")
    assert removed.returncode == 0, removed.stderr
    assert "[profiles.upstream]" not in sandbox.config.read_text()


@pytest.mark.parametrize("value", ["-1", "0", "nan", "soon"])
def test_test_timeout_must_be_a_positive_number(sandbox: Sandbox, value: str) -> None:
    done = cli(sandbox, "test", "--timeout", value)
    assert_clean_error(done)
    assert "argument --timeout" in done.stderr


def test_password_ttl_needs_password_command(sandbox: Sandbox) -> None:
    before = sandbox.config.read_text()
    done = cli(sandbox, "add", "corp", "https://pkgs.example/simple/", "--username", "u",
               "--password-env", "TOKEN", "--password-ttl", "60")
    assert_clean_error(done)
    assert "--password-ttl needs --password-command" in done.stderr
    negative = cli(sandbox, "add", "corp", "https://pkgs.example/simple/", "--username", "u",
                   "--password-command", "echo x", "--password-ttl", "-5")
    assert_clean_error(negative)
    assert "argument --password-ttl" in negative.stderr
    assert sandbox.config.read_text() == before


# -- profiles ---------------------------------------------------------------------------


def test_the_first_profile_added_becomes_the_default(sandbox: Sandbox,
                                                     indexes: Indexes) -> None:
    sandbox.config.unlink()
    first = cli(sandbox, "add", "local", indexes.local.url)
    assert first.returncode == 0, first.stderr
    assert "now the default" in first.stdout
    assert 'default = "local"' in sandbox.config.read_text()
    second = cli(sandbox, "add", "other", indexes.upstream.url)
    assert second.returncode == 0 and "default" not in second.stdout
    current = cli(sandbox, "current", "--json")
    assert json.loads(current.stdout)["profile"] == "local", current.stderr


def test_a_config_without_default_but_with_profiles_keeps_choosing_explicit(
        sandbox: Sandbox) -> None:
    sandbox.write_config('[profiles.a]\nindex-url = "http://127.0.0.1:1/simple/"\n')
    assert cli(sandbox, "add", "b", "http://127.0.0.1:2/simple/").returncode == 0
    assert "default" not in sandbox.config.read_text()


def test_add_errors_about_arguments_cite_no_config_line(sandbox: Sandbox) -> None:
    sandbox.write_config("# a comment\n# another\n" + sandbox.config.read_text())
    for args in (["add", "x", "ftp://x/simple/"],
                 ["add", "x", "https://x/simple/", "--username", "a b", "--password-env", "T"],
                 ["add", "x", "https://x/simple/", "--username", "u", "--password-env", "1X"],
                 ["set-url", "local", "http:///simple/"]):
        done = cli(sandbox, *args)
        assert_clean_error(done)
        assert not re.search(re.escape(str(sandbox.config)) + r":\d", done.stderr), done.stderr
        assert done.stderr.startswith(f"pipwrap: {args[0]}: "), done.stderr


def test_add_force_replaces_and_set_url_keeps_the_rest(sandbox: Sandbox) -> None:
    sandbox.write_config(
        'default = "corp"\n\n[profiles.corp]\n# the VPN one\n'
        'index-url = "https://old.example/simple/"\nusername = "alice"\n'
        'password-env = "CORP_TOKEN"\n')
    refused = cli(sandbox, "add", "corp", "https://new.example/simple/")
    assert_clean_error(refused)
    assert "--force" in refused.stderr and "set-url" in refused.stderr
    moved = cli(sandbox, "set-url", "corp", "https://new.example/simple/")
    assert moved.returncode == 0, moved.stderr
    text = sandbox.config.read_text()
    assert 'index-url = "https://new.example/simple/"' in text
    assert "# the VPN one" in text and 'username = "alice"' in text
    forced = cli(sandbox, "add", "--force", "corp", "https://third.example/simple/")
    assert forced.returncode == 0 and "replaced 'corp'" in forced.stdout, forced.stderr
    data = json.loads(cli(sandbox, "show", "corp", "--json").stdout)
    assert data == {"name": "corp", "index_url": "https://third.example/simple/"}
    unknown = cli(sandbox, "set-url", "nope", "https://x.example/simple/")
    assert_clean_error(unknown)
    assert "unknown profile 'nope'" in unknown.stderr


@pytest.mark.parametrize("args", [["show", "lcoal"], ["remove", "lcoal"], ["env"]])
def test_a_mistyped_profile_gets_a_suggestion(sandbox: Sandbox, args: list[str]) -> None:
    done = cli(sandbox, *args, PIPWRAP_PROFILE="lcoal")
    assert_clean_error(done)
    assert "unknown profile 'lcoal'" in done.stderr and "did you mean 'local'?" in done.stderr


def test_allow_warns_when_the_file_names_an_unknown_profile(sandbox: Sandbox) -> None:
    project = sandbox.home / "proj"
    write_file(project / ".pipwrap.toml", 'profile = "staging"\n')
    done = cli(sandbox, "allow", str(project))
    assert done.returncode == 0, done.stderr
    assert "names profile 'staging', which is not in" in done.stderr
    assert "known profiles: local, upstream" in done.stderr
    write_file(project / ".pipwrap.toml", 'profile = "upstream"\n')
    quiet = cli(sandbox, "allow", str(project))
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_keyring_hint_names_the_way_pipwrap_was_installed(sandbox: Sandbox,
                                                          tmp_path: Path) -> None:
    from pipwrap import install_hint
    from tests.support.shells import REPO

    working = {"PYTHON_KEYRING_BACKEND": "tests.support.filekeyring.FileKeyring",
               "PYTHONPATH": str(REPO), "TEST_KEYRING_FILE": str(tmp_path / "kr.json")}
    done = cli(sandbox, "add", "k", "https://pkgs.example/simple/", "--username", "u",
               "--keyring", **working)
    assert done.returncode == 0, done.stderr
    assert "keyring set" not in done.stderr
    try:
        import keyring  # noqa: F401
    except ImportError:
        assert f"{sys.executable} -m pip install keyring" in done.stderr
    else:
        assert "pipwrap login k" in done.stderr
        # No backend on this machine (issue 18): said at once, with what to do instead.
        none = cli(sandbox, "add", "--force", "k", "https://pkgs.example/simple/",
                   "--username", "u", "--keyring",
                   PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
        assert none.returncode == 0 and "no keyring backend" in none.stderr, none.stderr
    # Never a bare "pipwrap": that name on PyPI is another project; ours is pipwrap-cli.
    receipt = '[tool]\nrequirements = [{ name = "pipwrap-cli", directory = "/src/pipwrap" }]\n'
    by_name = '[tool]\nrequirements = [{ name = "pipwrap-cli" }]\n'
    for marker, body, where, expected in (
            ("pipx_metadata.json", "", "pipwrap-cli", "pipx inject pipwrap-cli keyring"),
            ("pipx_metadata.json", "", "pipwrap-cli-2", "pipx inject pipwrap-cli-2 keyring"),
            ("uv-receipt.toml", receipt, "a", "uv tool install --with keyring /src/pipwrap"),
            ("uv-receipt.toml", by_name, "b", "uv tool install --with keyring pipwrap-cli"),
            ("uv-receipt.toml", "", "c", "uv pip install --python ")):
        prefix = tmp_path / marker / where
        write_file(prefix / marker, body)
        probe = subprocess.run(
            [sys.executable, "-c", "import sys; sys.prefix = sys.argv[1]; "
             "from pipwrap.install_hint import install_command; "
             "print(install_command('keyring'))", str(prefix)],
            capture_output=True, text=True, check=True)
        assert probe.stdout.strip().startswith(expected), probe.stdout
        assert "pipx inject pipwrap " not in probe.stdout
    assert install_hint.how_installed() == "pip"


# -- edit, config, import ---------------------------------------------------------------


def editor(sandbox: Sandbox, body: str) -> str:
    """An $EDITOR that replaces the file it is given with ``body`` (or fails)."""
    script = sandbox.home / "fake-editor"
    source = sandbox.home / "fake-editor.content"
    source.write_text(body)
    script.write_text(f"#!/bin/sh\n[ -n \"$FAIL\" ] && exit 3\ncat '{source}' > \"$1\"\n")
    script.chmod(0o755)
    return str(script)


def test_edit_saves_a_valid_config(sandbox: Sandbox) -> None:
    new = 'default = "b"\n[profiles.b]\nindex-url = "http://127.0.0.1:9/simple/"\n'
    done = cli(sandbox, "edit", EDITOR=editor(sandbox, new), VISUAL="")
    assert done.returncode == 0, done.stderr
    assert sandbox.config.read_text() == new
    assert json.loads(cli(sandbox, "current", "--json").stdout)["profile"] == "b"
    assert list(sandbox.config.parent.glob("*.edit-*")) == []


def test_edit_keeps_the_old_file_on_error_and_names_the_line(sandbox: Sandbox) -> None:
    before = sandbox.config.read_text()
    bad = 'default = "local"\n[profiles.local]\nindex_url = "http://x/simple/"\n'
    done = cli(sandbox, "edit", VISUAL=editor(sandbox, bad), EDITOR="false")
    assert_clean_error(done)
    assert sandbox.config.read_text() == before
    drafts = list(sandbox.config.parent.glob("config.edit-*.toml"))
    assert len(drafts) == 1 and drafts[0].read_text() == bad
    assert f"{drafts[0]}:3: profile 'local': unknown key 'index_url'" in done.stderr
    assert "is unchanged; your edit is kept in" in done.stderr
    failed = cli(sandbox, "edit", EDITOR=editor(sandbox, bad), VISUAL="", FAIL="1")
    assert_clean_error(failed)
    assert "exited with status 3" in failed.stderr
    missing = cli(sandbox, "edit", EDITOR="no-such-editor-xyz --wait", VISUAL="")
    assert_clean_error(missing)
    assert "cannot run the editor 'no-such-editor-xyz' (from $EDITOR)" in missing.stderr
    assert sandbox.config.read_text() == before
    assert len(list(sandbox.config.parent.glob("config.edit-*.toml"))) == 1  # only the kept one


def test_edit_at_a_terminal_offers_to_edit_again(sandbox: Sandbox) -> None:
    from tests.support import shells

    good = 'default = "b"\n[profiles.b]\nindex-url = "http://127.0.0.1:9/simple/"\n'
    bad = good.replace("index-url", "index_url")
    (sandbox.home / "first").write_text(bad)
    (sandbox.home / "second").write_text(good)
    script = sandbox.home / "two-step-editor"
    # First call saves a mistake, the second the fix: what a person does after the prompt.
    script.write_text(f"#!/bin/sh\ncd '{sandbox.home}'\n"
                      "if [ -e used ]; then cat second > \"$1\"; else touch used; "
                      "cat first > \"$1\"; fi\n")
    script.chmod(0o755)
    env = {**sandbox.env, "EDITOR": str(script), "VISUAL": ""}
    text = shells.interactive([sys.executable, "-m", "pipwrap", "edit"], env,
                              [("", 2.0), ("\n", 2.0)])
    assert "unknown key 'index_url'" in text and "edit again? [Y/n]" in text, text
    assert "saved" in text, text
    assert sandbox.config.read_text() == good


def test_edit_starts_a_missing_config_from_a_template(sandbox: Sandbox) -> None:
    sandbox.config.unlink()
    recorder = sandbox.home / "record"
    script = sandbox.home / "recording-editor"
    script.write_text(f"#!/bin/sh\ncp \"$1\" '{recorder}'\n")
    script.chmod(0o755)
    done = cli(sandbox, "edit", EDITOR=str(script), VISUAL="")
    assert done.returncode == 0 and "no changes" in done.stdout, done.stderr
    assert "# [profiles.local]" in recorder.read_text()
    assert not sandbox.config.exists()


def test_config_path_show_and_schema(sandbox: Sandbox) -> None:
    done = cli(sandbox, "config", "path")
    assert done.stdout.strip() == str(sandbox.config)
    sandbox.write_config(sandbox.config.read_text() + '[profiles.s]\n'
                         'index-url = "https://bob:hunter2@p.example/simple/"\n')
    sandbox.write_config(sandbox.config.read_text() + '[profiles.t]\n'
                         'index-url = "https://t.example/simple/"\nusername = "u"\n'
                         'password-command = "echo pw-in-cmd"\n')
    shown = cli(sandbox, "config", "show")
    assert "bob:****@" in shown.stdout and "hunter2" not in shown.stdout + shown.stderr
    assert 'password-command = "(set)"' in shown.stdout and "pw-in-cmd" not in shown.stdout
    data = json.loads(cli(sandbox, "config", "show", "--json").stdout)
    assert data["default"] == "local" and len(data["profiles"]) == 4
    schema_text = cli(sandbox, "config", "schema").stdout
    schema = json.loads(schema_text)
    from pipwrap.profiles.schema import _PROFILE_KEYS

    assert set(schema["definitions"]["profile"]["properties"]) == set(_PROFILE_KEYS)
    located = cli(sandbox, "config", "schema", "--path").stdout.strip()
    assert Path(located).read_text() == schema_text


def test_the_json_schema_agrees_with_pipwrap_on_examples(sandbox: Sandbox) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from pipwrap.commands.config import schema_file
    from pipwrap.profiles import schema as schema_mod

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    validator = jsonschema.Draft7Validator(json.loads(schema_file().read_text()))
    good = ['default = "a"\n[profiles.a]\nindex-url = "https://x.example/simple/"\n',
            '[profiles.b]\nindex-url = "file:///srv/simple"\nusername = "u"\n'
            'password-command = "pass show x"\npassword-ttl = 60\n',
            # Accepted by pipwrap (a TTL without a command is ignored): the schema must agree.
            '[profiles.c]\nindex-url = "http://x/"\nusername = "u"\npassword-env = "T"\n'
            'password-ttl = 5\ntrusted-host = true\nkeyring = false\n',
            # Issue 24's source keys.
            '[profiles.d]\nindex-url = "https://x.example/simple/"\nfallback = '
            '["https://y.example/simple/"]\nreserved = ["acme-*"]\ncooldown = "7 days"\n'
            'cooldown-exempt = ["a?c", "x-[ab]*"]\n',
            '[profiles.e]\nindex-url = "https://x.example/simple/"\ncooldown = "PT12H"\n']
    bad = ['[profiles.a]\nindex_url = "https://x/simple/"\n', 'defualt = "a"\n',
           '[profiles.a]\nindex-url = "ftp://x/"\n', '[profiles."a b"]\nindex-url = "http://x/"\n',
           '[profiles.a]\nindex-url = "http://x/"\npassword-env = "T"\n',
           '[profiles.a]\nindex-url = "http://x/"\nusername = "u"\npassword-ttl = -1\n'
           'password-command = "x"\n',
           '[profiles.a]\nindex-url = "https://x/"\nfallback = "https://y/"\n',
           '[profiles.a]\nindex-url = "https://x/"\nfallback = ["ftp://y/"]\n',
           '[profiles.a]\nindex-url = "https://x/"\nreserved = ["Acme_*"]\n',
           '[profiles.a]\nindex-url = "https://x/"\ncooldown = "7 weeks"\n',
           '[profiles.a]\nindex-url = "https://x/"\ncooldown-exempt = ["a"]\n']
    for text in good:
        schema_mod.parse(text, "good.toml")
        assert not list(validator.iter_errors(tomllib.loads(text))), text
    for text in bad:
        with pytest.raises(PipwrapError):
            schema_mod.parse(text, "bad.toml")
        assert list(validator.iter_errors(tomllib.loads(text))), text


def pip_conf(sandbox: Sandbox, text: str) -> None:
    write_file(Path(sandbox.env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf", text)


def test_import_turns_pip_settings_into_profiles_without_secrets(sandbox: Sandbox) -> None:
    sandbox.config.unlink()
    pip_conf(sandbox, "[global]\nindex-url = https://alice:s3cret-pw@pkgs.corp.example/simple/\n"
             "extra-index-url =\n    http://127.0.0.1:8080/simple/\n"
             "    https://t0ken-val@gitlab.example/api/simple/\n")
    env = {"PIP_EXTRA_INDEX_URL": "https://mirror.example/simple/?token=qu3ry-secret"}
    dry = cli(sandbox, "import", "--dry-run", **env)
    assert dry.returncode == 0, dry.stderr
    assert not sandbox.config.exists()
    assert "would add 'corp'" in dry.stdout and "[profiles.corp]" in dry.stdout
    done = cli(sandbox, "import", **env)
    assert done.returncode == 0, done.stderr
    text = sandbox.config.read_text()
    for secret in ("s3cret-pw", "t0ken-val", "qu3ry-secret"):
        assert secret not in text + dry.stdout + dry.stderr + done.stdout + done.stderr
    data = {p["name"]: p for p in json.loads(cli(sandbox, "list", "--json").stdout)["profiles"]}
    assert data["corp"] == {"name": "corp", "index_url": "https://pkgs.corp.example/simple/",
                            "username": "alice", "password_env": "PIPWRAP_CORP_PASSWORD",
                            "default": True, "active": True}
    assert data["local"]["index_url"] == "http://127.0.0.1:8080/simple/"
    assert data["gitlab"]["index_url"] == "https://gitlab.example/api/simple/"
    assert data["mirror"]["index_url"] == "https://mirror.example/simple/"
    assert "export PIPWRAP_CORP_PASSWORD=" in done.stdout
    assert "default profile: corp" in done.stdout
    again = cli(sandbox, "import", "--json", **env)
    report = json.loads(again.stdout)
    assert report["added"] == [] and len(report["skipped"]) == 4


def test_import_with_nothing_to_import(sandbox: Sandbox) -> None:
    done = cli(sandbox, "import")
    assert done.returncode == 0 and "nothing to import" in done.stdout


# -- errors without tracebacks ----------------------------------------------------------


def run_without(modules: list[str], sandbox: Sandbox,
                *args: str) -> subprocess.CompletedProcess[str]:
    """pipwrap in a Python where ``modules`` cannot be imported (as on a bare checkout)."""
    code = ("import sys\n"
            f"for name in {modules!r}: sys.modules[name] = None\n"
            "from pipwrap.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", code, *args], env=sandbox.env,
                          capture_output=True, text=True, check=False, cwd=sandbox.home)


def test_a_missing_tomlkit_is_a_message_naming_the_install(sandbox: Sandbox) -> None:
    done = run_without(["tomlkit"], sandbox, "add", "x", "https://x.example/simple/")
    assert_clean_error(done)
    assert "'tomlkit' is missing" in done.stderr
    assert f"{sys.executable} -m pip install tomlkit" in done.stderr


def test_no_toml_parser_is_a_message_not_a_traceback(sandbox: Sandbox) -> None:
    # Python < 3.11 without tomli, simulated: neither parser can be imported.
    done = run_without(["tomllib", "tomli"], sandbox, "list")
    assert_clean_error(done)
    assert done.stderr.startswith("pipwrap: ") and "tomllib" in done.stderr


def test_without_fcntl_edits_use_a_portable_lock(sandbox: Sandbox) -> None:
    done = run_without(["fcntl"], sandbox, "add", "x", "https://x.example/simple/")
    assert done.returncode == 0, done.stderr
    assert "[profiles.x]" in sandbox.config.read_text()
    assert not list(sandbox.config.parent.glob("*.held"))


# -- one JSON style ---------------------------------------------------------------------


def all_keys(data: object) -> set[str]:
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in all_keys(v)}
    if isinstance(data, list):
        return {k for v in data for k in all_keys(v)}
    return set()


def test_every_json_output_uses_snake_case_keys(sandbox: Sandbox) -> None:
    sandbox.write_config(sandbox.config.read_text() + '[profiles.c]\nindex-url = '
                         '"https://pkgs.example/simple/"\nusername = "u"\n'
                         'password-env = "C_TOKEN"\ntrusted-host = true\n')
    commands = [["list", "--json"], ["ls", "--json"], ["show", "c", "--json"],
                ["current", "--json"], ["doctor", "--json"], ["config", "show", "--json"],
                ["config", "path", "--json"], ["import", "--json", "--dry-run"],
                ["test", "local", "--json"]]
    for args in commands:
        done = cli(sandbox, *args, C_TOKEN="x")
        assert done.returncode in (0, 1), (args, done.stderr)
        data = json.loads(done.stdout)
        assert isinstance(data, dict), args  # an object, never a bare list
        keys = all_keys(data)
        assert keys, args
        odd = {k for k in keys if not re.fullmatch(r"[a-z][a-z0-9_]*", k)}
        assert not odd, (args, odd)
    env = cli(sandbox, "env", "--json")
    assert json.loads(env.stdout)["PIPWRAP_ACTIVE_PROFILE"] == "local"


# -- `pipwrap test` on things that are not indexes --------------------------------------


class StaticServer:
    """`python -m http.server` over a directory, on a free loopback port."""

    def __init__(self, root: Path) -> None:
        from tests.support.servers import free_port

        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(self.port),
             "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import time
        import urllib.request

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url, timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("http.server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def static_sites(tmp_path: Path) -> dict[str, str]:
    from tests.support.wheels import make_wheel

    flat = tmp_path / "flat"
    make_wheel(flat, "Foo", "1.0", "flat")
    make_wheel(flat, "bar", "2.0", "flat")
    no_links = tmp_path / "nolinks"
    write_file(no_links / "index.html", "<html><body><h1>It works!</h1></body></html>")
    servers = [StaticServer(flat), StaticServer(no_links)]
    yield {"flat": servers[0].url, "nolinks": servers[1].url}  # type: ignore[misc]
    for server in servers:
        server.stop()


def test_test_fails_what_pip_cannot_use_and_says_where_the_index_is(
        sandbox: Sandbox, indexes: Indexes, static_sites: dict[str, str],
        tmp_path: Path) -> None:
    root = indexes.local.url.removesuffix("simple/")
    from tests.support.wheels import make_wheel

    make_wheel(tmp_path / "flatdir", "Foo", "1.0", "flat")
    (tmp_path / "empty").mkdir()
    sandbox.write_config(
        'default = "good"\n'
        f'[profiles.good]\nindex-url = "{indexes.local.url}"\n'
        f'[profiles.packages]\nindex-url = "{root}packages/"\n'
        f'[profiles.root]\nindex-url = "{root}"\n'
        f'[profiles.project]\nindex-url = "{indexes.local.url}foo/"\n'
        f'[profiles.flat]\nindex-url = "{static_sites["flat"]}"\n'
        f'[profiles.nolinks]\nindex-url = "{static_sites["nolinks"]}"\n'
        f'[profiles.flatdir]\nindex-url = "file://{tmp_path / "flatdir"}"\n'
        f'[profiles.emptydir]\nindex-url = "file://{tmp_path / "empty"}"\n')
    done = cli(sandbox, "test", "--json", "--timeout", "5")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False
    results = {r["profile"]: r for r in report["results"]}
    assert results["good"]["ok"] and results["emptydir"]["ok"]
    # pypiserver's front page is no index, but it redirects pip's project requests (issue 18).
    assert results["root"]["ok"] and indexes.local.url in results["root"]["note"]
    for name in ("packages", "project", "flat", "nolinks", "flatdir"):
        assert not results[name]["ok"], results[name]
        assert results[name]["reason"], name
    for name in ("packages", "project"):
        assert results[name]["suggested_url"] == indexes.local.url, results[name]
    assert "distribution files directly" in results["flat"]["reason"]
    assert "no project links" in results["nolinks"]["reason"]
    assert "distribution files directly" in results["flatdir"]["reason"]
    text = cli(sandbox, "test", "packages")
    assert text.returncode == 1
    assert f"pipwrap set-url packages {indexes.local.url}" in text.stdout
    flat = cli(sandbox, "test", "flat")
    assert flat.returncode == 1 and "pypi-server run" in flat.stdout


def test_test_accepts_an_empty_pypiserver(sandbox: Sandbox, tmp_path: Path) -> None:
    from tests.support.servers import serving

    (tmp_path / "nothing").mkdir()
    with serving(tmp_path / "nothing") as empty:
        sandbox.write_config(f'[profiles.e]\nindex-url = "{empty.url}"\n')
        done = cli(sandbox, "test")
    assert done.returncode == 0, done.stdout + done.stderr


def test_nan_is_not_a_number_of_seconds() -> None:
    from pipwrap.commands.common import seconds as _seconds

    with pytest.raises(argparse.ArgumentTypeError):
        _seconds(float)(str(math.nan))


def test_the_scripts_install_without_the_users_pip_sources() -> None:
    """demo.sh and test.sh run pip through clean_pip: no pip.conf, no PIP_*/UV_* leaks."""
    from tests.support.shells import REPO

    done = subprocess.run(
        ["bash", "-c", "source scripts/lib.sh; clean_pip env"], cwd=REPO, check=True,
        capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PIP_FIND_LINKS": "/leak", "PIP_EXTRA_INDEX_URL": "x",
             "UV_INDEX": "y", "PIP_CONFIG_FILE": "/leaky.conf", "HOME": "/nonexistent"})
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert seen["PIP_CONFIG_FILE"] == "/dev/null"
    assert not {"PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "UV_INDEX"} & set(seen)
    assert seen["HOME"] == "/nonexistent"  # everything else is kept (proxies, certificates)
