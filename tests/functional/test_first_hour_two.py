"""A new user's first hour, round two (issue 18): items 3, 4, 7, 8, 9 and 10."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import shells
from tests.support.sandbox import Indexes, Sandbox, installed, write_file
from tests.support.shells import REPO, SHELLS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def cli(sandbox: Sandbox, *args: str, cwd: Path | None = None, stdin: str | None = None,
        **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env={**sandbox.env, **env},
                          capture_output=True, text=True, check=False, cwd=cwd or sandbox.home,
                          input=stdin)


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr


# -- 3. keyring -------------------------------------------------------------------------

NO_BACKEND = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
KR = ('[profiles.kr]\nindex-url = "https://pkgs.example/simple/"\nusername = "alice"\n'
      'keyring = true\n')


def file_keyring(sandbox: Sandbox) -> dict[str, str]:
    return {"PYTHON_KEYRING_BACKEND": "tests.support.filekeyring.FileKeyring",
            "PYTHONPATH": str(REPO), "TEST_KEYRING_FILE": str(sandbox.home / "keyring.json")}


def test_a_keyring_profile_without_a_backend_is_a_message_everywhere(sandbox: Sandbox) -> None:
    pytest.importorskip("keyring")
    sandbox.write_config(sandbox.config.read_text() + KR)
    tested = cli(sandbox, "test", **NO_BACKEND)
    no_traceback(tested)
    assert tested.returncode == 1
    lines = {line.split()[1]: line for line in tested.stdout.splitlines()
             if line.startswith(("ok", "FAIL"))}
    assert lines["local"].startswith("ok") and lines["upstream"].startswith("ok"), tested.stdout
    assert lines["kr"].startswith("FAIL") and "no keyring backend" in lines["kr"]
    for args in (["env", "-p", "kr"], ["run", "-p", "kr", "--", "true"]):
        done = cli(sandbox, *args, **NO_BACKEND)
        no_traceback(done)
        assert done.returncode == 2
        assert "profile 'kr'" in done.stderr and "no keyring backend" in done.stderr
        assert "--password-env" in done.stderr and "keyring set" not in done.stderr
    doctor = cli(sandbox, "doctor", "--profile", "kr", **NO_BACKEND)
    no_traceback(doctor)
    assert doctor.returncode == 1 and "wrap is safe here" not in doctor.stdout
    assert "no keyring backend" in doctor.stdout
    for shell in SHELLS:
        status = "$status" if shell == "fish" else "$?"
        done = sandbox.sh(shell, f"PIPWRAP_PROFILE=kr wrap pip --version\necho status={status}\n",
                          **NO_BACKEND)
        no_traceback(done)
        assert done.stdout.strip().endswith("status=2"), (shell, done.stdout, done.stderr)
        assert "no keyring backend" in done.stderr, (shell, done.stderr)


def test_login_prompts_once_and_stores_the_password_in_the_keyring(sandbox: Sandbox) -> None:
    pytest.importorskip("keyring")
    sandbox.write_config(sandbox.config.read_text() + KR)
    env = {**sandbox.env, **file_keyring(sandbox)}
    missing = cli(sandbox, "env", "-p", "kr", **file_keyring(sandbox))
    assert missing.returncode == 2 and "pipwrap login kr" in missing.stderr, missing.stderr
    text = shells.interactive([sys.executable, "-m", "pipwrap", "login", "kr"], env,
                              [("", 3.0), ("s3cret-pw\r", 3.0)])
    assert "password for alice at pkgs.example:" in text, text
    assert "s3cret-pw" not in text  # never echoed, never printed
    assert "stored the password for alice at pkgs.example" in text, text
    read = subprocess.run(
        [sys.executable, "-c", "import os; from pipwrap.profiles import config, credentials; "
         "p = config.load().profile('kr'); print(credentials.password(p, os.environ).value)"],
        env=env, capture_output=True, text=True, check=False)
    assert read.stdout.strip() == "s3cret-pw", read.stderr
    again = cli(sandbox, "login", "kr", "--password-stdin", stdin="n3w-pw\n",
                **file_keyring(sandbox))
    assert again.returncode == 0 and "n3w-pw" not in again.stdout + again.stderr
    assert "n3w-pw" in (sandbox.home / "keyring.json").read_text()
    nowhere = cli(sandbox, "login", "kr", "--password-stdin", stdin="x\n", **NO_BACKEND)
    no_traceback(nowhere)
    assert nowhere.returncode == 2 and "no keyring backend" in nowhere.stderr
    plain = cli(sandbox, "login", "local", "--password-stdin", stdin="x\n")
    assert plain.returncode == 2 and "--keyring" in plain.stderr


# -- 4. pipwrap test probes what pip asks for --------------------------------------------


def test_test_judges_the_project_page_pip_asks_for(sandbox: Sandbox, indexes: Indexes,
                                                   tmp_path: Path) -> None:
    from tests.support.hosting import pipwrap_serve
    from tests.support.wheels import make_wheel

    repo = tmp_path / "repo"
    wheel = make_wheel(tmp_path / "dist", "Foo", "1.0", "served")
    assert cli(sandbox, "repo", "add", "--repo", str(repo), str(wheel)).returncode == 0
    (tmp_path / "empty").mkdir()
    pypi_root = indexes.local.url.removesuffix("simple/")
    with pipwrap_serve(repo, tmp_path / "log", "--no-fallback") as served, \
            pipwrap_serve(tmp_path / "empty", tmp_path / "log2", "--no-fallback") as empty:
        sandbox.write_config(
            'default = "good"\n'
            f'[profiles.good]\nindex-url = "{served.url}"\n'
            f'[profiles.serveroot]\nindex-url = "{served.base}/"\n'
            f'[profiles.bare]\nindex-url = "{served.base}"\n'
            f'[profiles.emptyroot]\nindex-url = "{empty.base}/"\n'
            f'[profiles.emptygood]\nindex-url = "{empty.url}"\n'
            f'[profiles.pypiroot]\nindex-url = "{pypi_root}"\n')
        done = cli(sandbox, "test", "--json", "--timeout", "5")
        text = cli(sandbox, "test", "serveroot")
    results = {r["profile"]: r for r in json.loads(done.stdout)["results"]}
    for name in ("good", "emptygood", "pypiroot"):
        assert results[name]["ok"], results[name]
    for name, base in (("serveroot", served), ("bare", served), ("emptyroot", empty)):
        assert not results[name]["ok"], results[name]
        assert "pip would find nothing" in results[name]["reason"], results[name]
        assert results[name]["suggested_url"] == base.url, results[name]
    assert indexes.local.url in results["pypiroot"]["note"]
    assert text.returncode == 1
    assert f"pipwrap set-url serveroot {served.url}" in text.stdout, text.stdout


def test_add_warns_at_once_about_a_server_root(sandbox: Sandbox) -> None:
    for url in ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"):
        done = cli(sandbox, "add", "--force", "srv", url)
        assert done.returncode == 0, done.stderr
        assert "looks like a server's root" in done.stderr
        assert "http://127.0.0.1:8080/simple/" in done.stderr
    fine = cli(sandbox, "set-url", "srv", "http://127.0.0.1:8080/simple/")
    assert fine.returncode == 0 and fine.stderr == ""


# -- 7. shells --------------------------------------------------------------------------


def test_bash_completes_after_wrap_without_bash_completion(sandbox: Sandbox) -> None:
    rc = sandbox.home / "bashrc"
    rc.write_text(shells.init_line("bash") + "\n"
                  "_fake_pip() { COMPREPLY=($(compgen -W 'install-from-fake list' -- \"$2\")); }\n"
                  "complete -F _fake_pip pip\nPS1='$ '\n")
    done = sandbox.sh("bash", "declare -F _command_offset || echo no-bash-completion\n"
                      "COMP_WORDS=(wrap pip ins); COMP_CWORD=2; COMP_LINE='wrap pip ins'\n"
                      "COMP_POINT=${#COMP_LINE}\n_fake_pip() { COMPREPLY=(\"[$1|$2|$3|$COMP_LINE|"
                      "$COMP_POINT|$COMP_CWORD]\"); }\ncomplete -F _fake_pip pip\n"
                      "__pipwrap_complete_wrap\necho \"${COMPREPLY[@]}\"\n")
    assert done.stdout.splitlines() == ["no-bash-completion", "[pip|ins|pip|pip ins|7|1]"], \
        done.stdout + done.stderr
    text = shells.interactive(["bash", "--noprofile", "--rcfile", str(rc), "-i"], sandbox.env, [
        ("", 1.5), ("wrap pip ins\t", 1.0), ("\x15exit\n", 0.5)])
    assert "wrap pip install-from-fake" in text, text


def test_zsh_completes_profiles_after_pipwrap_use_without_compinit(sandbox: Sandbox) -> None:
    rc_dir = sandbox.home / ".rc-zsh"
    rc_dir.mkdir(exist_ok=True)
    (rc_dir / ".zshrc").write_text(shells.init_line("zsh") + "\nPS1='$ '\n")
    env = {**sandbox.env, "ZDOTDIR": str(rc_dir)}
    text = shells.interactive(["zsh", "-i"], env, [
        ("", 1.5), ("pipwrap use ups\t", 1.5), ("\n", 1.5),
        ("echo chosen=$__pipwrap_use\n", 1.0), ("exit\n", 0.5)])
    assert "chosen=upstream" in text, text


def zsh_prompt_recipe() -> str:
    docs = (REPO / "docs/reference.md").read_text()
    block = docs.split("<!-- zsh-prompt-recipe -->", 1)[1]
    return block.split("```zsh\n", 1)[1].split("```", 1)[0]


def test_the_zsh_prompt_recipe_shows_the_profile(sandbox: Sandbox) -> None:
    recipe = zsh_prompt_recipe()
    assert "setopt PROMPT_SUBST" in recipe
    rc_dir = sandbox.home / ".rc-zsh"
    rc_dir.mkdir(exist_ok=True)
    (rc_dir / ".zshrc").write_text(shells.init_line("zsh") + "\n" + recipe + "cd ~\n")
    env = {**sandbox.env, "ZDOTDIR": str(rc_dir)}
    text = shells.interactive(["zsh", "-i"], env, [("", 2.0), ("pipwrap use upstream\n", 2.0),
                                                    ("exit\n", 0.5)])
    assert re.search(r"\[local\] ~ [%#]", text) and re.search(r"\[upstream\] ~ [%#]", text), text
    assert "$PIPWRAP_PROMPT_PROFILE" not in text


@pytest.mark.parametrize("shell", SHELLS)
def test_an_unallowed_directory_file_is_blocked_in_the_prompt(sandbox: Sandbox,
                                                              shell: str) -> None:
    project = sandbox.home / "proj"
    write_file(project / "sub" / "x", "")
    (project / ".pipwrap.toml").write_text('profile = "upstream"\n')
    show = "echo prompt=$PIPWRAP_PROMPT_PROFILE"
    script = (f"cd {project}\n__pipwrap_prompt_update\n{show}\n__pipwrap_prompt_update\n"
              f"__pipwrap_prompt_update\ncd sub\n__pipwrap_prompt_update\n{show}\ncd ~\n"
              f"__pipwrap_prompt_update\n{show}\ncd {project}\n__pipwrap_prompt_update\n"
              f"pipwrap allow >/dev/null\n__pipwrap_prompt_update\n{show}\n")
    done = sandbox.sh(shell, script)
    assert done.stdout.split() == ["prompt=(blocked)", "prompt=(blocked)", "prompt=local",
                                   "prompt=upstream"], done.stdout + done.stderr
    said = [line for line in done.stderr.splitlines() if "is blocked" in line]
    # Once per directory change: proj, proj/sub, proj again; never on a repeated prompt.
    assert len(said) == 3, done.stderr
    assert said[0] == (f"pipwrap: {project}/.pipwrap.toml is blocked: review it, then run "
                       "`pipwrap allow` (or `pipwrap deny`)")


def test_the_blocked_mark_at_a_bash_prompt(sandbox: Sandbox) -> None:
    project = sandbox.home / "proj"
    write_file(project / ".pipwrap.toml", 'profile = "upstream"\n')
    rc = sandbox.home / "bashrc"
    rc.write_text(shells.init_line("bash") + "\nPROMPT_COMMAND=__pipwrap_prompt_update\n"
                  "PS1='[$PIPWRAP_PROMPT_PROFILE]$ '\ncd ~\n")
    text = shells.interactive(["bash", "--noprofile", "--rcfile", str(rc), "-i"], sandbox.env, [
        ("", 1.5), (f"cd {project}\n", 1.5), ("\n", 0.5), ("\n", 0.5), ("exit\n", 0.5)])
    assert "[local]$" in text and "[(blocked)]$" in text, text
    assert text.count("is blocked") == 1, text


@pytest.mark.parametrize("shell", SHELLS)
def test_an_old_shell_says_pipwrap_moved(sandbox: Sandbox, shell: str, tmp_path: Path) -> None:
    from pipwrap.shell import init

    link = tmp_path / "gone" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(sys.executable)
    cli_argv = [str(link), *init.cli_command()[1:]]
    snippet = tmp_path / f"snippet.{shell}"
    snippet.write_text(init.render(shell, cli_argv, completion=None))
    status = "$status" if shell == "fish" else "$?"
    done = sandbox.sh(shell, f"source {snippet}\nrm {link}\nwrap pip --version\n"
                      f"echo status={status}\npipwrap list\necho status={status}\n")
    assert done.stdout.split() == ["status=127", "status=127"], done.stdout + done.stderr
    assert "No such file" not in done.stderr and "Unknown command" not in done.stderr
    assert done.stderr.count(f"pipwrap moved: {link} is gone") == 2, done.stderr
    assert "open a new shell (or re-run the init line)" in done.stderr


# -- 8. import --------------------------------------------------------------------------


def test_import_keeps_trusted_host_names_addresses_and_says_what_it_skipped(
        sandbox: Sandbox) -> None:
    sandbox.write_config('default = "pypi"\n[profiles.pypi]\n'
                         'index-url = "https://pypi.org/simple/"\n')
    write_file(Path(sandbox.env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf",
               "[global]\nindex-url = http://10.20.30.10:8080/simple/\n"
               "extra-index-url = https://PyPI.org/simple\n    http://10.9.9.10/simple/\n"
               "trusted-host = 10.20.30.10\nfind-links = /srv/wheels\n")
    done = cli(sandbox, "import")
    assert done.returncode == 0, done.stderr
    data = {p["name"]: p for p in json.loads(cli(sandbox, "list", "--json").stdout)["profiles"]}
    assert set(data) - {"local"} == {"pypi", "index-1", "index-2"}, data
    assert data["index-1"]["index_url"] == "http://10.20.30.10:8080/simple/"
    text = sandbox.config.read_text()
    table = tomllib.loads(text)["profiles"]
    assert table["index-1"].get("trusted-host") is True
    assert "trusted-host" not in table["index-2"]
    assert "is already profile 'pypi'" in done.stdout
    assert "skipped find-links /srv/wheels" in done.stdout and "not an index" in done.stdout
    assert "'10'" not in done.stdout


# -- 9. small ---------------------------------------------------------------------------


def test_init_help_and_init_sh(sandbox: Sandbox) -> None:
    helped = cli(sandbox, "init", "--help")
    lines = helped.stdout.splitlines()
    for rc, code in (("~/.bashrc", "pipwrap init bash"), ("~/.zshrc", "pipwrap init zsh"),
                     ("~/.config/fish/config.fish", "pipwrap init fish")):
        assert [line for line in lines if rc in line and code in line
                and line.count("pipwrap init") == 1], helped.stdout
    for shell in ("sh", "dash"):
        done = cli(sandbox, "init", shell)
        no_traceback(done)
        assert done.returncode == 2 and done.stdout == ""
        assert "pipwrap run -- pip install NAME" in done.stderr
        assert "invalid choice" not in done.stderr


def test_one_project_is_not_projects(sandbox: Sandbox, tmp_path: Path) -> None:
    from tests.support.wheels import make_wheel

    wheel = make_wheel(tmp_path / "dist", "Foo", "1.0", "x")
    done = cli(sandbox, "repo", "add", "--repo", str(tmp_path / "repo"), str(wheel))
    assert "1 project, 1 file;" in done.stdout, done.stdout
    assert "1 projects" not in done.stdout and "1 files" not in done.stdout


def test_port_in_use_names_what_listens(sandbox: Sandbox, indexes: Indexes,
                                        tmp_path: Path) -> None:
    done = cli(sandbox, "serve", "--repo", str(tmp_path), "--port",
               str(indexes.upstream.port))
    no_traceback(done)
    assert done.returncode == 2
    assert "already in use by" in done.stderr and "pypiserver" in done.stderr, done.stderr
    assert "another `pipwrap serve`" not in done.stderr


def test_env_masked_output_does_not_pass_for_code(sandbox: Sandbox) -> None:
    sandbox.write_config(sandbox.config.read_text().replace('default = "local"', 'default = "t"')
                         + '[profiles.t]\nindex-url = "http://127.0.0.1:9/simple/"\n'
                         'username = "alice"\npassword-env = "T_PW"\n'
                         'upload-url = "http://127.0.0.1:9/"\n')
    masked = cli(sandbox, "env", T_PW="pw-val")
    assert "pw-val" not in masked.stdout
    twine = [line for line in masked.stdout.splitlines() if "TWINE_PASSWORD" in line]
    assert twine and twine[0].startswith("# ") and "--reveal" in twine[0]
    check = 'eval "$(pipwrap env)"; echo "pw=${TWINE_PASSWORD-unset} idx=$PIP_INDEX_URL"'
    done = subprocess.run(["bash", "-c", check.replace("pipwrap", f"{sys.executable} -m pipwrap")],
                          env={**sandbox.env, "T_PW": "pw-val"}, capture_output=True,
                          text=True, check=False)
    assert done.stdout.strip() == "pw=unset idx=http://127.0.0.1:9/simple/", done.stderr
    revealed = subprocess.run(
        ["bash", "-c", check.replace("pipwrap env", f"{sys.executable} -m pipwrap env --reveal")],
        env={**sandbox.env, "T_PW": "pw-val"}, capture_output=True, text=True, check=False)
    # The fence holds the login: even revealed, twine gets only a placeholder.
    assert revealed.stdout.startswith("pw=pipwrap-fence-adds-the-login "), revealed.stderr
    assert "pw-val" not in revealed.stdout + revealed.stderr
    dotenv = cli(sandbox, "env", "--format", "dotenv", "--reveal", T_PW="pw-val")
    pairs = dict(line.split("=", 1) for line in dotenv.stdout.splitlines())
    assert pairs["PIP_INDEX_URL"] == "http://127.0.0.1:9/simple/"
    assert pairs["TWINE_PASSWORD"] == "pipwrap-fence-adds-the-login"
    assert "evaluable" in cli(sandbox, "env", "--help").stdout.lower()


def test_doctor_names_the_site_file_of_the_interpreter_behind_a_shim(
        sandbox: Sandbox, venv: Path) -> None:
    shims = sandbox.home / ".pyenv" / "shims"
    for name, target in (("pip", "pip"), ("pip3", "pip"), ("python", "python"),
                         ("python3", "python")):
        write_file(shims / name, f'#!/usr/bin/env bash\nexec "{venv}/bin/{target}" "$@"\n')
        (shims / name).chmod(0o755)
    env = {"PATH": f"{shims}:{sandbox.env['PATH']}"}
    data = json.loads(cli(sandbox, "doctor", "--json", **env).stdout)
    sites = [layer["path"] for layer in data["pip_config_layers"] if layer["layer"] == "site"]
    assert str(venv / "pip.conf") in sites, sites
    assert str(sandbox.home / ".pyenv" / "pip.conf") not in sites


def test_docs_say_platformdirs_is_a_requirement() -> None:
    readme = (REPO / "README.md").read_text()
    assert "used only on macOS" not in readme
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("platformdirs") for dep in project["dependencies"])


# -- 10. export -------------------------------------------------------------------------

CORP = ('[profiles.corp]\nindex-url = "http://pkgs.corp.example:8080/simple/"\n'
        'username = "alice"\npassword-env = "CORP_PW"\ntrusted-host = true\n'
        '[profiles.tok]\nindex-url = "https://t0ken-val@gitlab.example/api/simple/?key=qu3ry"\n')


def test_export_writes_each_form_without_credentials(sandbox: Sandbox) -> None:
    sandbox.write_config(sandbox.config.read_text() + CORP)
    out = {to: cli(sandbox, "export", "corp", "--to", to, CORP_PW="pw-val")
           for to in ("uv", "pip-conf", "requirements", "env")}
    for to, done in out.items():
        assert done.returncode == 0, (to, done.stderr)
        assert "pw-val" not in done.stdout
    uv = tomllib.loads(out["uv"].stdout)["tool"]["uv"]["index"]
    assert uv == [{"name": "corp", "url": "http://pkgs.corp.example:8080/simple/",
                   "default": True}]
    assert "UV_INDEX_CORP_PASSWORD" in out["uv"].stdout
    conf = configparser.ConfigParser()
    conf.read_string(out["pip-conf"].stdout)
    assert conf["global"]["index-url"] == "http://alice@pkgs.corp.example:8080/simple/"
    assert conf["global"]["trusted-host"] == "pkgs.corp.example:8080"
    assert "--index-url http://alice@pkgs.corp.example:8080/simple/" in \
        out["requirements"].stdout.splitlines()
    env = dict(line.split("=", 1) for line in out["env"].stdout.splitlines()
               if not line.startswith("#"))
    assert env["PIP_INDEX_URL"] == env["UV_DEFAULT_INDEX"] == \
        "http://pkgs.corp.example:8080/simple/"
    assert env["UV_INDEX_STRATEGY"] == "first-index"
    token = cli(sandbox, "export", "tok", "--to", "uv")
    assert "t0ken-val" not in token.stdout and "qu3ry" not in token.stdout
    assert "https://gitlab.example/api/simple/" in token.stdout
    target = sandbox.home / "pip.conf"
    wrote = cli(sandbox, "export", "corp", "--to", "pip-conf", "--output", str(target))
    assert wrote.returncode == 0 and target.read_text() == out["pip-conf"].stdout
    refused = cli(sandbox, "export", "corp", "--to", "uv", "--output", str(target))
    assert refused.returncode == 2 and "exists" in refused.stderr
    assert target.read_text() == out["pip-conf"].stdout


def test_an_exported_requirements_header_installs_from_the_profile(
        sandbox: Sandbox, venv: Path, indexes: Indexes) -> None:
    header = cli(sandbox, "export", "local", "--to", "requirements").stdout
    req = write_file(sandbox.home / "requirements.txt", header + "foo\n")
    target = sandbox.home / "t"
    # A teammate without pipwrap: plain pip, no profile, the requirements file alone.
    done = subprocess.run([str(venv / "bin/pip"), "install", "-q", "--target", str(target),
                           "-r", str(req)], env={**sandbox.env, "PIP_CONFIG_FILE": os.devnull},
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert installed(target) == ("local", "1.0")


def test_export_completes_profile_names(sandbox: Sandbox) -> None:
    from pipwrap.cli.parser import completion_data

    data = completion_data()
    assert "export" in data["commands"] and "export" in data["profile_commands"]
    assert "login" in data["profile_commands"]
    assert "--to" in data["options"]["export"]
    done = sandbox.sh("bash", "COMP_WORDS=(pipwrap export up); COMP_CWORD=2; "
                      "__pipwrap_complete\necho \"${COMPREPLY[@]}\"\n")
    assert done.stdout.strip() == "upstream", done.stderr


def test_every_new_message_names_no_missing_keyring_command() -> None:
    for path in (REPO / "pipwrap").rglob("*.py"):
        assert not re.search(r"keyring set \{", path.read_text()), path
