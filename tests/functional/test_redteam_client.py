"""Red-team findings against the fence and the guard (client side): each attack first
installs the evil Foo 9.9.9 bare, then is shown refused (or 403) under ``wrap``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.fenced import pip_bin as _pip_bin
from tests.support.fenced import stage as _stage
from tests.support.sandbox import Indexes, Sandbox, installed, write_file

EVIL = ("evil", "9.9.9")
FENCE = "pipwrap fence: refused"

# An in-tree PEP 517 backend (no build requirements, so nothing to fetch for the build)
# whose wheel says `Requires-Dist: foo @ URL`: only the built metadata names the URL, which
# no reading of the command line or pyproject.toml can see; the fence holds it.
_BACKEND = '''
import base64, hashlib, os, zipfile

def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "dyn-1.0-py3-none-any.whl"
    files = {
        "dyn/__init__.py": b"",
        "dyn-1.0.dist-info/METADATA": (
            "Metadata-Version: 2.1\\nName: dyn\\nVersion: 1.0\\n"
            "Requires-Dist: foo @ " + os.environ.get("X", "") + "URL\\n").encode(),
        "dyn-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = [_record_line(k, v) for k, v in files.items()] + ["dyn-1.0.dist-info/RECORD,,"]
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as out:
        for k, v in files.items():
            out.writestr(k, v)
        out.writestr("dyn-1.0.dist-info/RECORD", "\\n".join(record) + "\\n")
    return name
'''


@pytest.fixture
def dynamic_project(sandbox: Sandbox, indexes: Indexes) -> Path:
    evil = indexes.upstream.url.replace("/simple/", "/packages/") + "foo-9.9.9-py3-none-any.whl"
    root = sandbox.home / "dyn"
    write_file(root / "pyproject.toml", textwrap.dedent("""\
        [build-system]
        requires = []
        build-backend = "backend"
        backend-path = ["."]
        """))
    write_file(root / "backend.py", _BACKEND.replace('" + os.environ.get("X", "") + "URL', evil))
    return root


# Finding 1: pip 26 reads an empty --proxy (or PIP_PROXY= with PIP_NO_PROXY_ENV) as "no
# proxy", so the dynamic dependency went straight to the upstream past the fence.
@pytest.mark.parametrize("how", [
    "pip install --proxy=",
    "pip install --proxy ''",
    "pip --proxy= install",
    "pip install --prox=",
    "python -m pip install --proxy= --no-proxy-env",
    "pip install --proxy=http://127.0.0.1:1/ --proxy=",
    "env PIP_NO_PROXY_ENV=1 PIP_PROXY= pip install",
    "env -u PIP_PROXY pip install --no-proxy-env",
])
def test_pip_told_to_skip_the_proxy_is_refused(sandbox: Sandbox, indexes: Indexes,
                                               dynamic_project: Path, how: str) -> None:
    path = f"{_pip_bin('newest')}:{sandbox.env['PATH']}"
    done = _stage(sandbox, indexes, f"{how} --target TARGET {dynamic_project}", PATH=path)
    assert installed(sandbox.home / "wrapped") is None
    assert "pipwrap: refused:" in done.stderr, done.stderr


def test_a_dynamic_dependency_url_is_fenced(sandbox: Sandbox, indexes: Indexes,
                                            dynamic_project: Path) -> None:
    """The same project without the flag: the guard cannot see the URL, the fence 403s."""
    path = f"{_pip_bin('newest')}:{sandbox.env['PATH']}"
    done = _stage(sandbox, indexes, f"pip install --target TARGET {dynamic_project}", PATH=path)
    assert installed(sandbox.home / "wrapped") is None
    assert f"{FENCE} GET " in done.stderr and "foo-9.9.9" in done.stderr, done.stderr



# Finding 2: uv has no PIP_PROXY; it takes the proxy from HTTP_PROXY and friends, and
# skips it for NO_PROXY. A command line that clears or excepts those (env, a script's
# assignment or export) sent uv's download of the dynamic dependency around the fence.
UVC = "uv pip install -q --python {py} --target TARGET"


@pytest.mark.parametrize("how", [
    "env NO_PROXY=* no_proxy=* " + UVC,
    "env -u HTTP_PROXY -u http_proxy -u ALL_PROXY -u all_proxy " + UVC,
    "env --unset=http_proxy --unset=HTTP_PROXY --unset=all_proxy --unset=ALL_PROXY " + UVC,
    "env HTTP_PROXY= http_proxy= ALL_PROXY= all_proxy= " + UVC,
    "sh -c 'NO_PROXY=\\* exec " + UVC + " \"$0\"'",
    "sh -c 'export no_proxy=\\*; " + UVC + " \"$0\"'",
    "sh -c 'unset HTTP_PROXY http_proxy ALL_PROXY all_proxy; " + UVC + " \"$0\"'",
])
def test_uv_told_to_skip_the_proxy_is_refused(sandbox: Sandbox, indexes: Indexes,
                                              dynamic_project: Path, venv: Path,
                                              how: str) -> None:
    done = _stage(sandbox, indexes, how.format(py=f"{venv}/bin/python") + f" {dynamic_project}",
                  UV_INDEX_URL=indexes.local.url)
    assert installed(sandbox.home / "wrapped") is None
    assert "pipwrap: refused:" in done.stderr and "fence" in done.stderr, done.stderr


# Checked, holds: exported or prefixed proxy variables do not reach the command under wrap.
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_proxy_variables_set_around_wrap_are_replaced(sandbox: Sandbox, indexes: Indexes, dynamic_project: Path, venv: Path,
                        shell: str) -> None:
    wrapped = sandbox.home / "wrapped"
    cmd = UVC.format(py=f"{venv}/bin/python").replace("TARGET", str(wrapped))
    setx = "set -gx NO_PROXY '*'; set -gx no_proxy '*'" if shell == "fish" else \
        "export NO_PROXY='*' no_proxy='*'"
    done = sandbox.sh(shell, f"{setx}\nHTTP_PROXY= http_proxy= wrap {cmd} {dynamic_project}\n"
                      f"wrap {cmd} {dynamic_project}\n", UV_INDEX_URL=indexes.local.url)
    assert installed(wrapped) is None, done.stderr


# Finding 2, the same through the tools that set variables for their environments: tox's
# set_env and hatch's env-vars clearing a proxy variable are refused; passing the fence's
# own value on (`passenv = HTTP_PROXY`) is not.
def _check(argv: list[str], cwd: Path) -> str | None:
    from pipwrap.errors import RefusedError
    from pipwrap.guard.api import check

    try:
        check(argv, {"PATH": "/usr/bin"}, index_url="http://127.0.0.1:9/simple/", cwd=str(cwd))
    except RefusedError as exc:
        return str(exc)
    return None


def test_tox_and_hatch_clearing_a_proxy_variable_are_refused(tmp_path: Path) -> None:
    write_file(tmp_path / "tox.ini", "[testenv]\npassenv = HTTP_PROXY\nset_env =\n"
               "    NO_PROXY = *\n")
    refused = _check(["tox"], tmp_path)
    assert refused is not None and "tox.ini:4" in refused and "NO_PROXY" in refused
    write_file(tmp_path / "tox.ini", "[testenv]\npassenv = HTTP_PROXY, HTTPS_PROXY\n")
    assert _check(["tox"], tmp_path) is None
    (tmp_path / "tox.ini").unlink()
    write_file(tmp_path / "hatch.toml", '[envs.default.env-vars]\nhttp_proxy = ""\n')
    refused = _check(["hatch", "run", "true"], tmp_path)
    assert refused is not None and "hatch.toml:2" in refused


@pytest.mark.parametrize("argv", [
    ["nice", "env", "NO_PROXY=*", "uv", "pip", "install", "./x"],
    ["sh", "-c", "set -a; all_proxy=; uv pip install ./x"],
])
def test_proxy_variables_through_launchers(tmp_path: Path, argv: list[str]) -> None:
    refused = _check(argv, tmp_path)
    assert refused is not None and "fence" in refused
