"""`pipwrap doctor`: every pip config layer with its source, risks, exit codes, no secrets."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.sandbox import Sandbox, write_file

SECRET = "hunter2pw"
TOKEN = "tok3nXYZ"


def doctor(sandbox: Sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", "doctor", *args],
                          env={**sandbox.env, **env}, capture_output=True, text=True,
                          check=False, cwd=sandbox.home)



def test_clean_setup_is_safe(sandbox: Sandbox) -> None:
    done = doctor(sandbox)
    assert done.returncode == 0, done.stderr
    assert "verdict: wrap is safe here" in done.stdout


def test_each_layer_is_reported_with_its_source(sandbox: Sandbox) -> None:
    home = sandbox.home
    glob = write_file(home / "etc-xdg/pip/pip.conf", "[global]\nfind-links = /g/links\n")
    user = write_file(home / ".config/pip/pip.conf", "[install]\nextra-index-url = https://u.example/simple/\n")
    legacy = write_file(home / ".pip/pip.conf", "[global]\ntrusted-host = pkgs.example.com\n")
    venv = home / "venv"
    site = write_file(venv / "pip.conf", "[global]\nindex-url = http://site.example/simple/\n")
    data = json.loads(doctor(sandbox, "--json", VIRTUAL_ENV=str(venv),
                             PIP_EXTRA_INDEX_URL="https://env.example/simple/").stdout)
    sources = {(s["key"], s["source"]) for s in data["settings"]}
    assert ("find-links", f"{glob} [global]") in sources
    assert ("extra-index-url", f"{user} [install]") in sources
    assert ("trusted-host", f"{legacy} [global]") in sources
    assert ("index-url", f"{site} [global]") in sources
    assert ("extra-index-url", "env PIP_EXTRA_INDEX_URL") in sources
    effective = [s for s in data["settings"] if s["key"] == "extra-index-url"
                 and s["effective_without_wrap"]]
    assert [s["source"] for s in effective] == ["env PIP_EXTRA_INDEX_URL"]
    messages = " ".join(r["message"] for r in data["risks"])
    assert "extra-index-url" in messages and "find-links" in messages
    assert "trusted-host pkgs.example.com" in messages
    assert "http:// index" in messages
    # All of these are neutralized by wrap.
    assert data["safe"] is True


def test_pip_config_file_replaces_user_layer(sandbox: Sandbox) -> None:
    write_file(sandbox.home / ".config/pip/pip.conf", "[global]\nfind-links = /user\n")
    other = write_file(sandbox.home / "other.conf", "[global]\nfind-links = /other\n")
    data = json.loads(doctor(sandbox, "--json", PIP_CONFIG_FILE=str(other)).stdout)
    sources = [s["source"] for s in data["settings"]]
    assert sources == [f"{other} [global]"]  # pip skips the user file then


def test_http_profile_off_loopback_is_a_remaining_risk(sandbox: Sandbox) -> None:
    sandbox.write_config('default = "x"\n[profiles.x]\nindex-url = "http://pkgs.example.com/simple/"\n')
    done = doctor(sandbox)
    assert done.returncode == 1
    assert "NOT neutralized" in done.stdout and "http:// off loopback" in done.stdout


def test_constraint_with_source_is_a_remaining_risk(sandbox: Sandbox) -> None:
    c = write_file(sandbox.home / "c.txt", "--extra-index-url https://evil.example/simple/\n")
    write_file(sandbox.home / ".config/pip/pip.conf", f"[global]\nconstraint = {c}\n")
    done = doctor(sandbox)
    assert done.returncode == 1
    assert "wrap will refuse pip commands" in done.stdout


def test_secrets_are_never_printed(sandbox: Sandbox) -> None:
    conf = write_file(sandbox.home / ".config/pip/pip.conf",
                  f"[global]\nextra-index-url = https://bob:{SECRET}@pkgs.example.com/simple/\n")
    conf.chmod(0o644)
    sandbox.write_config(
        'default = "x"\n[profiles.x]\n'
        f'index-url = "https://alice:{SECRET}@idx.example.com/simple/?token={TOKEN}"\n'
    )
    sandbox.config.chmod(0o644)
    outputs = [doctor(sandbox, PIP_INDEX_URL=f"https://carol:{SECRET}@e.example/?api_key={TOKEN}"),
               doctor(sandbox, "--json")]
    for done in outputs:
        text = done.stdout + done.stderr
        assert SECRET not in text and TOKEN not in text
        assert done.returncode == 1  # plain-text passwords in files readable by others
    assert "readable by others" in outputs[0].stdout
    assert "bob:****@" in outputs[0].stdout


def test_every_spelling_and_the_pip_on_path_are_reported(sandbox: Sandbox, venv) -> None:  # type: ignore[no-untyped-def]
    """No VIRTUAL_ENV: the site pip.conf of the pip on PATH is read; odd spellings show."""
    site = venv / "pip.conf"
    site.write_text("[install]\npypi-url = https://site.example/simple/\n")
    try:
        data = json.loads(doctor(sandbox, "--json",
                                 PIP___EXTRA_INDEX_URL="https://env.example/simple/").stdout)
    finally:
        site.unlink()
    sources = {(s["key"], s["source"]) for s in data["settings"]}
    assert ("pypi-url", f"{site} [install]") in sources
    assert ("extra-index-url", "env PIP___EXTRA_INDEX_URL") in sources
    messages = " ".join(r["message"] for r in data["risks"])
    assert "PIP___EXTRA_INDEX_URL" in messages and "wrap removes it" in messages


def test_project_sources_are_reported_by_tool_file_and_line(sandbox: Sandbox) -> None:
    write_file(sandbox.home / "pyproject.toml", (
        '[project]\nname = "x"\nversion = "0"\n\n[[tool.uv.index]]\nname = "up"\n'
        'url = "https://upstream.example/simple/"\n\n[[tool.poetry.source]]\nname = "p"\n'
        'url = "https://other.example/simple/"\n'))
    done = doctor(sandbox, "--json")
    data = json.loads(done.stdout)
    risks = {r["message"].split(":")[0]: r for r in data["risks"]}
    assert "pyproject.toml:7" in risks["uv"]["message"] and risks["uv"]["neutralized"]
    assert "pyproject.toml:11" in risks["poetry"]["message"]
    assert not risks["poetry"]["neutralized"]
    assert done.returncode == 1 and data["safe"] is False
