"""Profiles as a daily tool: edits, shell `use`, directory files, credentials, `test`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import shells
from tests.support.sandbox import Indexes, Sandbox
from tests.support.shells import SHELLS


def cli(sandbox: Sandbox, *args: str, cwd: Path | None = None,
        **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env={**sandbox.env, **env},
                          capture_output=True, text=True, check=False, cwd=cwd or sandbox.home)


COMMENTED = """\
# my indexes
default = "local"  # the usual one

[profiles.local]
# served by pypiserver on this box
index-url = "http://127.0.0.1:8080/simple/"

[profiles.corp]
index-url = "https://pkgs.example.com/simple/"  # VPN only
"""


def test_edits_keep_comments_and_layout(sandbox: Sandbox) -> None:
    sandbox.write_config(COMMENTED)
    for args in (["add", "extra", "https://e.example/simple/"], ["rename", "corp", "work"],
                 ["default", "work"], ["remove", "extra"]):
        done = cli(sandbox, *args)
        assert done.returncode == 0, done.stderr
    text = sandbox.config.read_text()
    for comment in ("# my indexes", "# served by pypiserver on this box", "# VPN only"):
        assert comment in text
    assert 'default = "work"' in text and "[profiles.work]" in text
    assert "extra" not in text and "[profiles.corp]" not in text


def test_concurrent_adds_both_land(sandbox: Sandbox) -> None:
    def adder(prefix: str) -> subprocess.Popen[str]:
        script = "; ".join(
            f"{sys.executable} -m pipwrap add {prefix}{i} http://127.0.0.1/{prefix}{i}/"
            for i in range(8))
        return subprocess.Popen(["sh", "-c", script], env=sandbox.env, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    procs = [adder("a"), adder("b")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    data = json.loads(cli(sandbox, "list", "--json").stdout)
    names = {p["name"] for p in data["profiles"]}
    assert {f"a{i}" for i in range(8)} | {f"b{i}" for i in range(8)} <= names


def test_edit_refuses_to_clobber_a_broken_file(sandbox: Sandbox) -> None:
    broken = 'default = "local"\n[profiles.local\n'
    sandbox.write_config(broken)
    done = cli(sandbox, "add", "x", "http://127.0.0.1/simple/")
    assert done.returncode == 2
    assert "line 2" in done.stderr
    assert sandbox.config.read_text() == broken


@pytest.mark.parametrize("args,message", [
    (["add", "bad name", "http://x/"], "invalid profile name"),
    (["add", "local", "http://x/"], "already exists"),
    (["add", "x", "ftp://x/"], "must be an http://"),
    (["remove", "nope"], "unknown profile 'nope'"),
    (["default", "nope"], "unknown profile 'nope'"),
    (["rename", "local", "upstream"], "already exists"),
])
def test_edit_errors(sandbox: Sandbox, args: list[str], message: str) -> None:
    before = sandbox.config.read_text()
    done = cli(sandbox, *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert sandbox.config.read_text() == before


@pytest.mark.parametrize("shell", SHELLS)
def test_use_is_per_shell_and_precedence(sandbox: Sandbox, shell: str) -> None:
    script = (
        "pipwrap use upstream\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        "PIPWRAP_PROFILE=local wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        "pipwrap current\n"
        "pipwrap use --off\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        "pipwrap use nope\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
    )
    done = sandbox.sh(shell, script)
    lines = done.stdout.splitlines()
    assert lines[0:2] == ["upstream", "local"], done.stderr
    assert "pipwrap use" in lines[3]
    assert lines[4] == "local" and lines[5] == "local"
    assert "unknown profile 'nope'" in done.stderr
    # No file was written by `use`.
    assert "upstream" not in sandbox.config.read_text().split("[profiles")[0]


@pytest.mark.parametrize("shell", SHELLS)
def test_directory_files_need_allow(sandbox: Sandbox, shell: str) -> None:
    project = sandbox.home / "proj"
    (project / "sub/deeper").mkdir(parents=True)
    (project / ".pipwrap.toml").write_text('profile = "upstream"\n')
    other = sandbox.home / "other"
    other.mkdir()
    script = (
        f"cd {project}/sub/deeper\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # refused: not allowed yet
        f"pipwrap allow {project}\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # parent lookup
        f"cd {other}\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # another dir: default
        f"cd {project}\n"
        f"echo 'profile = \"local\"' > {project}/.pipwrap.toml\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # changed: refused
        "pipwrap allow\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        "PIPWRAP_PROFILE=upstream wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        "pipwrap deny\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # denied: ignored, the config's default
        f"echo 'profile = \"upstream\"' > {project}/.pipwrap.toml\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # still ignored, whatever it holds now
    )
    done = sandbox.sh(shell, script)
    outputs = [line for line in done.stdout.splitlines() if not line.startswith(("allowed", "denied"))]
    assert outputs == ["upstream", "local", "local", "upstream", "local", "local"], \
        done.stdout + done.stderr
    assert done.stderr.count("not allowed yet") == 1
    assert done.stderr.count("changed since it was allowed") == 1


@pytest.mark.parametrize("shell", SHELLS)
def test_a_directory_file_created_here_is_seen_without_cd(sandbox: Sandbox, shell: str) -> None:
    project = sandbox.home / "proj"
    (project / "sub").mkdir(parents=True)
    script = (
        f"cd {project}/sub\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # no file yet: the default, cached
        f"echo 'profile = \"upstream\"' > {project}/.pipwrap.toml\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # appeared in a parent: refused
        f"pipwrap allow {project}\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
    )
    done = sandbox.sh(shell, script)
    outputs = [line for line in done.stdout.splitlines() if not line.startswith("allowed")]
    assert outputs == ["local", "upstream"], done.stdout + done.stderr
    assert done.stderr.count("not allowed yet") == 1


@pytest.mark.parametrize("shell", SHELLS)
def test_another_data_dir_means_another_allow_store(sandbox: Sandbox, shell: str) -> None:
    project = sandbox.home / "proj"
    project.mkdir()
    (project / ".pipwrap.toml").write_text('profile = "upstream"\n')
    other = sandbox.home / "other-data"
    export = (f"set -gx XDG_DATA_HOME {other}" if shell == "fish"
              else f"export XDG_DATA_HOME={other}")
    script = (
        f"cd {project}\n"
        "pipwrap allow\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"
        f"{export}\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # that store never allowed it
    )
    done = sandbox.sh(shell, script)
    assert done.stdout.splitlines()[1:] == ["upstream"], done.stdout + done.stderr
    assert "not allowed yet" in done.stderr


def test_allow_store_is_text_and_survives_spaces_and_symlinks(sandbox: Sandbox) -> None:
    project = sandbox.home / "my proj"
    project.mkdir()
    (project / ".pipwrap.toml").write_text('profile = "upstream"\n')
    link = sandbox.home / "link"
    link.symlink_to(project)
    assert cli(sandbox, "allow", str(link)).returncode == 0
    store = Path(sandbox.env["XDG_DATA_HOME"]) / "pipwrap" / "allowed"
    assert f" upstream {project}/.pipwrap.toml\n" in store.read_text()
    for where in (project, link):
        done = cli(sandbox, "current", "--json", cwd=where, PWD=str(where))
        assert json.loads(done.stdout)["profile"] == "upstream", done.stderr
    # A store line someone mangled grants nothing.
    store.write_text(store.read_text().replace(" upstream ", "  upstream "))
    done = cli(sandbox, "current", cwd=project)
    assert done.returncode == 2 and "not allowed yet" in done.stderr


def test_password_command_runs_once_per_ttl(sandbox: Sandbox) -> None:
    counter = sandbox.home / "count"
    helper = sandbox.home / "helper.sh"
    helper.write_text(f"#!/bin/sh\necho x >> {counter}\necho s3cr3t-tok\n")
    helper.chmod(0o755)
    sandbox.write_config(
        'default = "p"\n[profiles.p]\nindex-url = "https://idx.example/simple/"\n'
        f'username = "alice"\npassword-command = "{helper}"\npassword-ttl = 3600\n')
    script = "wrap printenv PIP_INDEX_URL\nwrap printenv NETRC || echo no-netrc\nwrap true\n"
    done = sandbox.sh("bash", script)
    url, netrc = done.stdout.strip().splitlines()
    assert url == "https://idx.example/simple/", done.stderr  # the login is in the fence
    assert netrc == "no-netrc"
    again = sandbox.sh("zsh", "wrap true\n")
    assert again.returncode == 0
    assert counter.read_text().count("x") == 1  # cached across calls and shells
    cache = list((sandbox.home / ".cache/pipwrap/secrets").iterdir())
    assert cache and all((p.stat().st_mode & 0o777) == 0o600 for p in cache)
    outputs = [cli(sandbox, *a) for a in (["list"], ["show"], ["current"], ["env"], ["doctor"],
                                          ["list", "--json"], ["test", "--timeout", "1"])]
    for out in outputs:
        assert "s3cr3t-tok" not in out.stdout + out.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_secret_within_its_ttl_needs_no_python(sandbox: Sandbox, shell: str) -> None:
    sandbox.write_config(
        'default = "p"\n[profiles.p]\nindex-url = "https://idx.example/simple/"\n'
        'username = "alice"\npassword-command = "echo tok"\npassword-ttl = 2\n')
    broken = "set -g __pipwrap_cli false" if shell == "fish" else "__pipwrap_cli=(false)"
    script = (
        "wrap true\n"
        f"{broken}\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # within the TTL: the cached state serves
        "sleep 3\n"
        "wrap printenv PIPWRAP_ACTIVE_PROFILE\n"  # expired: must ask pipwrap, which is broken
        + ("echo status=$status\n" if shell == "fish" else "echo status=$?\n")
    )
    done = sandbox.sh(shell, script)
    assert done.stdout.split() == ["p", "status=1"], done.stdout + done.stderr


def test_a_readable_config_with_a_literal_password_is_warned_about(sandbox: Sandbox) -> None:
    sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                         'index-url = "https://alice:pl41n-pw@pkgs.example/simple/"\n')
    sandbox.config.chmod(0o644)
    for done in (cli(sandbox, "list"), sandbox.sh("bash", "wrap true\n")):
        assert "other users can read it; run: chmod 600" in done.stderr, done.stderr
        assert "pl41n-pw" not in done.stdout + done.stderr
    sandbox.config.chmod(0o600)
    assert cli(sandbox, "list").stderr == ""


@pytest.mark.parametrize("url", ["https://alice:pl41n-pw@pkgs.example/simple/",
                                 "https://t0ken-s3cret@pkgs.example/simple/",
                                 "https://pkgs.example/simple/?token=t0ken-s3cret"])
def test_adding_a_url_with_a_credential_makes_the_config_private(sandbox: Sandbox,
                                                                 url: str) -> None:
    sandbox.config.chmod(0o644)
    added = cli(sandbox, "add", "corp", url)
    assert added.returncode == 0, added.stderr
    assert sandbox.config.stat().st_mode & 0o777 == 0o600
    listed = cli(sandbox, "list")
    assert listed.stderr == "" and "corp" in listed.stdout


def test_password_env_and_missing_variable(sandbox: Sandbox) -> None:
    sandbox.write_config(
        'default = "p"\n[profiles.p]\nindex-url = "https://idx.example/simple/"\n'
        'username = "bob"\npassword-env = "IDX_TOKEN"\n')
    done = sandbox.sh("bash", "wrap printenv PIP_INDEX_URL\nwrap env\n", IDX_TOKEN="pa:ss@word")
    url = done.stdout.strip().splitlines()[0]
    assert url == "https://idx.example/simple/", done.stderr
    # The child holds no copy of the secret (the user's own IDX_TOKEN aside).
    assert [line for line in done.stdout.splitlines()
            if "pa:ss@word" in line and not line.startswith("IDX_TOKEN=")] == []
    missing = cli(sandbox, "run", "--", "true")
    assert missing.returncode == 2 and "IDX_TOKEN, which is not set" in missing.stderr


def test_keyring_without_package_is_a_clear_error(sandbox: Sandbox) -> None:
    sandbox.write_config('default = "k"\n[profiles.k]\nindex-url = "https://i.example/s/"\n'
                         'username = "u"\nkeyring = true\n')
    # twine (a test tool) pulls keyring in: hide it the way a missing package looks.
    hide = ("import sys; sys.modules['keyring'] = None; from pipwrap.cli import main; "
            "sys.exit(main(['env']))")
    done = subprocess.run([sys.executable, "-c", hide], env=sandbox.env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and "keyring package is not installed" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_probe_in_parallel_with_a_silent_server(sandbox: Sandbox, indexes: Indexes) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections into the backlog, never answers
    port = silent.getsockname()[1]
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    dead_port = refused.getsockname()[1]
    refused.close()
    sandbox.write_config(
        'default = "local"\n'
        f'[profiles.local]\nindex-url = "{indexes.local.url}"\n'
        f'[profiles.upstream]\nindex-url = "{indexes.upstream.url}"\n'
        f'[profiles.silent1]\nindex-url = "http://127.0.0.1:{port}/simple/"\n'
        f'[profiles.silent2]\nindex-url = "http://127.0.0.1:{port}/other/"\n'
        f'[profiles.dead]\nindex-url = "http://127.0.0.1:{dead_port}/simple/"\n')
    try:
        start = time.monotonic()
        done = cli(sandbox, "test", "--json", "--timeout", "2")
        took = time.monotonic() - start
    finally:
        silent.close()
    results = {r["profile"]: r for r in json.loads(done.stdout)["results"]}
    assert done.returncode == 1
    assert results["local"]["ok"] and results["local"]["status"] == 200
    assert results["upstream"]["ok"]
    assert "no answer within 2 s" in results["silent1"]["reason"]
    assert "connection refused" in results["dead"]["reason"]
    assert took < 2 * 2  # two silent indexes probed at once, not one after the other
    named = cli(sandbox, "test", "local")
    assert named.returncode == 0 and named.stdout.startswith("ok")


def test_use_without_shell_integration_explains(sandbox: Sandbox) -> None:
    done = cli(sandbox, "use", "local")
    assert done.returncode == 2 and "shell integration" in done.stderr


def test_completion_bash_and_fish_offer_commands_and_profiles(sandbox: Sandbox) -> None:
    done = sandbox.sh("bash", "COMP_WORDS=(pipwrap cu); COMP_CWORD=1; __pipwrap_complete\n"
                      "echo \"${COMPREPLY[@]}\"\n"
                      "COMP_WORDS=(pipwrap use u); COMP_CWORD=2; __pipwrap_complete\n"
                      "echo \"${COMPREPLY[@]}\"\n")
    assert done.stdout.splitlines() == ["current", "upstream"], done.stderr
    fish = sandbox.sh("fish", "complete -C 'pipwrap cu'\ncomplete -C 'pipwrap show '\n")
    # fish shows each subcommand's description after a tab.
    names = [line.split("\t")[0] for line in fish.stdout.splitlines()]
    assert names == ["current", "local", "upstream"], fish.stderr


def test_zsh_completion_completes_commands_and_profiles_at_a_prompt(sandbox: Sandbox) -> None:
    # Completion needs zle, so type at a real interactive zsh and run what TAB produced:
    # `pipwrap cu<TAB>` must become `pipwrap current`, `pipwrap show up<TAB>` `... upstream`.
    rc_dir = sandbox.home / ".rc-zsh"
    rc_dir.mkdir(exist_ok=True)
    (rc_dir / ".zshrc").write_text(
        "autoload -Uz compinit && compinit -u -D\n" + shells.init_line("zsh") + "\nPS1='$ '\n"
    )
    env = {**sandbox.env, "ZDOTDIR": str(rc_dir)}
    text = shells.interactive(["zsh", "-i"], env, [
        ("", 1.5),
        ("pipwrap cu\t", 1.0), ("\n", 1.5),
        ("pipwrap show up\t", 1.0), ("\n", 1.5),
        ("exit\n", 0.5),
    ])
    assert "why: default in" in text, text
    assert "name: upstream" in text, text


def test_probe_asks_every_source_and_names_a_dead_fallback(sandbox: Sandbox,
                                                           indexes: Indexes) -> None:
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{refused.getsockname()[1]}/simple/"
    refused.close()
    added = cli(sandbox, "add", "deadfb", indexes.local.url, "--fallback", indexes.upstream.url,
                "--fallback", dead)
    assert added.returncode == 0, added.stderr
    done = cli(sandbox, "test", "deadfb", "--timeout", "5")
    lines = done.stdout.splitlines()
    # The fence fails closed on a dead fallback: every project the index lacks is refused.
    assert done.returncode == 1, done.stdout
    assert [line.split()[0] for line in lines if line.split()[1] == "deadfb"] == \
        ["ok", "ok", "FAIL"], done.stdout
    failed = next(line for line in lines if line.startswith("FAIL"))
    assert "fallback 2" in failed and dead in failed and "connection refused" in failed
    results = json.loads(cli(sandbox, "test", "deadfb", "--json").stdout)["results"]
    assert [(r["source"], r["url"], r["ok"]) for r in results] == [
        ("index-url", indexes.local.url, True), ("fallback 1", indexes.upstream.url, True),
        ("fallback 2", dead, False)]
    cli(sandbox, "add", "goodfb", indexes.local.url, "--fallback", indexes.upstream.url)
    good = cli(sandbox, "test", "goodfb")
    assert good.returncode == 0 and len(good.stdout.splitlines()) == 2, good.stdout
