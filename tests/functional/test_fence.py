"""The fence: under `wrap`, the profile's index is the only thing the network reaches.

Real shells, real pip (23.2.1 and the newest) and uv, real pypiservers and small static
indexes on 127.0.0.1. Each attack first installs the evil Foo 9.9.9 bare, so a clean
result under `wrap` proves the fence (or the guard) and not a broken setup.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipwrap.fence import netns
from tests.support import static_index
from tests.support.fenced import FENCE, PIPS, download, fetch, pip_bin, stage
from tests.support.fenced import python_c as _py
from tests.support.sandbox import PRIVATE_SECRET, Indexes, Sandbox, installed, write_file
from tests.support.servers import PyPIServer
from tests.support.shells import SHELLS
from tests.support.wheels import make_wheel

LOCAL = ("local", "1.0")
@pytest.mark.parametrize("shell", SHELLS)
def test_urllib_reaches_the_profiles_index_and_nothing_else(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    script = "\n".join([
        "wrap " + _py(fetch(indexes.local.url + "foo/")),
        "wrap " + _py(fetch(indexes.upstream.url + "foo/")),
        "wrap " + _py(fetch("https://127.0.0.1:9/simple/")),
        "wrap " + _py(fetch("https://example.invalid/")),
    ])
    done = sandbox.sh(shell, script)
    lines = [line for line in done.stdout.splitlines() if line.startswith(("status", "error"))]
    assert lines[0] == "status 200", done.stdout + done.stderr
    assert lines[1].startswith("status 403 " + FENCE), done.stdout
    assert indexes.upstream.url + "foo/" in lines[1]
    # https to another host: the fence opens the tunnel (its own certificate) and refuses
    # the request inside it; nothing is sent to that host.
    assert lines[2].startswith("status 403 " + FENCE), done.stdout
    assert lines[3].startswith("status 403 " + FENCE), done.stdout
    # Each refusal is said once on the command's terminal, naming pipwrap and the URL.
    assert done.stderr.count(f"{FENCE} GET {indexes.upstream.url}foo/") == 1, done.stderr
    assert f"{FENCE} GET https://127.0.0.1:9/simple/" in done.stderr
    assert f"{FENCE} GET https://example.invalid:443/" in done.stderr


def test_pipwrap_run_is_fenced_and_the_proxy_wants_the_session_token(
        sandbox: Sandbox, indexes: Indexes) -> None:
    code = fetch(indexes.upstream.url + "foo/") + (
        "import os, urllib.request as u\n"
        "proxy = os.environ['HTTP_PROXY'].replace('pipwrap:', 'pipwrap:x')\n"
        "opener = u.build_opener(u.ProxyHandler({'http': proxy}))\n"
        "try:\n"
        f"    opener.open({indexes.local.url + 'foo/'!r})\n"
        "except OSError as x:\n"
        "    print('token', getattr(x, 'code', x))\n")
    done = subprocess.run([sys.executable, "-m", "pipwrap", "run", sys.executable, "-c", code],
                          env=sandbox.env, capture_output=True, text=True, timeout=60, check=False)
    assert f"status 403 {FENCE} GET {indexes.upstream.url}foo/" in done.stdout, done.stderr
    assert "token 407" in done.stdout
    assert f"{FENCE} GET {indexes.upstream.url}foo/" in done.stderr


def test_no_fence_no_command(sandbox: Sandbox) -> None:
    """Fail closed: when the fence cannot start, the command does not run."""
    blocker = sandbox.home / "not-a-dir"
    blocker.write_text("")
    env = {**sandbox.env, "XDG_DATA_HOME": str(blocker / "data")}
    marker = sandbox.home / "ran"
    done = subprocess.run([sys.executable, "-m", "pipwrap", "run", "touch", str(marker)],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "fence" in done.stderr
    assert not marker.exists()
    done = sandbox.sh("bash", f"wrap touch {marker}; echo status=$?", XDG_DATA_HOME=str(
        blocker / "data"))
    assert "status=0" not in done.stdout, done.stderr
    assert not marker.exists()


KILL_AGENT = (
    "import os, signal, socket, struct, time\n"
    "path = os.path.expanduser('~/.cache/pipwrap/fence-agent/agent.sock')\n"
    "conn = socket.socket(socket.AF_UNIX); conn.connect(path)\n"
    "pid = struct.unpack('3i', conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]\n"
    "os.kill(pid, signal.SIGKILL); time.sleep(0.2)\n"
)


@pytest.mark.parametrize("shell", SHELLS)
def test_a_dead_agent_is_replaced_on_the_next_wrap(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    show = _py("import os; print('proxy', os.environ['HTTP_PROXY'].rsplit(':', 1)[1])")
    done = sandbox.sh(shell, "\n".join([
        "wrap " + show,
        f"{sys.executable} -c \"{KILL_AGENT}\"",
        "wrap " + show,
        "wrap " + _py(fetch(indexes.local.url + "foo/")),
    ]))
    ports = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("proxy")]
    assert len(ports) == 2 and ports[0] != ports[1], done.stdout + done.stderr
    assert "status 200" in done.stdout, done.stdout + done.stderr


# --- staged attacks the guard does not see, stopped by the fence --------------------

@pytest.fixture(scope="module")
def attack_wheel(tmp_path_factory: pytest.TempPathFactory, indexes: Indexes) -> Path:
    """A local wheel whose Requires-Dist is `foo @ <the upstream's evil wheel>`."""
    evil = indexes.upstream.url.replace("/simple/", "/packages/") + "foo-9.9.9-py3-none-any.whl"
    return make_wheel(tmp_path_factory.mktemp("attack"), "attack", "1.0", "attack",
                      requires_dist=(f"foo @ {evil}",))


@pytest.mark.parametrize("pip", sorted(PIPS))
def test_local_wheel_with_a_url_dependency_is_fenced(
        sandbox: Sandbox, indexes: Indexes, attack_wheel: Path, pip: str) -> None:
    path = f"{pip_bin(pip)}:{sandbox.env['PATH']}"
    done = stage(sandbox, indexes, f"pip install {attack_wheel}", PATH=path)
    assert installed(sandbox.home / "wrapped") is None
    assert "pipwrap" in done.stderr and "refused" in done.stderr, done.stderr
    if FENCE in done.stderr:
        assert "foo-9.9.9-py3-none-any.whl" in done.stderr


def test_uv_local_wheel_with_a_url_dependency_is_fenced(
        sandbox: Sandbox, indexes: Indexes, attack_wheel: Path, venv: Path) -> None:
    done = stage(sandbox, indexes,
                  f"uv pip install -q --python {venv}/bin/python --target TARGET {attack_wheel}",
                  UV_INDEX_URL=indexes.local.url)
    assert installed(sandbox.home / "wrapped") is None
    assert "refused" in done.stderr, done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_script_without_sh_running_pip_with_an_extra_index_is_stopped(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    script = write_file(sandbox.home / "install",
                        f"#!/bin/sh\nexec pip install --extra-index-url {indexes.upstream.url} foo\n")
    script.chmod(0o755)
    done = stage(sandbox, indexes, "./install", shell=shell)
    # The guard reads the script now; where it did not, the fence stopped the upstream.
    if "pipwrap: refused:" in done.stderr:
        assert installed(sandbox.home / "wrapped") is None
    else:
        assert installed(sandbox.home / "wrapped") == LOCAL, done.stderr
        assert f"{FENCE} GET {indexes.upstream.url}foo/" in done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_program_hiding_its_extra_index_is_fenced(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    """The guard cannot read what a program computes at run time; the fence sees the URL."""
    hidden = indexes.upstream.url.encode().hex()
    program = write_file(sandbox.home / "setup-deps", (
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"url = bytes.fromhex({hidden!r}).decode()\n"
        "os.execvp('pip', ['pip', 'install', '--extra-index-url', url, 'foo'])\n"))
    program.chmod(0o755)
    done = stage(sandbox, indexes, "./setup-deps", shell=shell)
    assert installed(sandbox.home / "wrapped") == LOCAL, done.stderr
    assert f"{FENCE} GET {indexes.upstream.url}foo/" in done.stderr


@pytest.mark.parametrize("pip", sorted(PIPS))
def test_runpy_pip_with_an_extra_index_is_fenced(
        sandbox: Sandbox, indexes: Indexes, pip: str) -> None:
    python = pip_bin(pip) / "python"
    code = ("import runpy, sys; sys.argv = ['pip', 'install', '--extra-index-url', "
            f"'{indexes.upstream.url}', 'foo']; runpy.run_module('pip', run_name='__main__')")
    done = stage(sandbox, indexes, f"{python} -c \"{code}\"")
    assert installed(sandbox.home / "wrapped") in (None, LOCAL), done.stderr
    assert "refused" in done.stderr, done.stderr


# --- https: the profile is an https index signed by a test CA ----------------------

@pytest.fixture(scope="module")
def https_indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    root = tmp_path_factory.mktemp("https")
    ca = static_index.make_ca(root / "ca")
    upstream = static_index.tree(root / "upstream", [
        make_wheel(root / "w-up", "Foo", "9.9.9", "evil"),
        make_wheel(root / "w-up", "bar-baz", "2.0", "upstream")])
    local = static_index.tree(root / "local", [make_wheel(root / "w-local", "Foo", "1.0", "local")])
    other = static_index.tree(root / "other", [make_wheel(root / "w-other", "Foo", "9.9.9", "evil")])
    with static_index.serve(upstream, context=ca.server_context(root / "s1")) as up, \
            static_index.serve(local, fallback=up.url,
                               context=ca.server_context(root / "s2")) as loc, \
            static_index.serve(other, context=ca.server_context(root / "s3")) as oth:
        yield {"ca": ca.cert, "local": loc.url, "upstream": up.url, "other": oth.url}


def _https_profile(sandbox: Sandbox, https: dict[str, object]) -> dict[str, str]:
    sandbox.write_config(f'default = "tls"\n[profiles.tls]\nindex-url = "{https["local"]}"\n'
                         f'ca-file = "{https["ca"]}"\n')
    # The developer's machine exports CA variables: here they even trust the test CA, so a
    # connection that bypassed the fence would verify.
    return {name: str(https["ca"]) for name in (
        "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO")}


@pytest.mark.parametrize("pip", sorted(PIPS))
def test_https_index_with_pip(sandbox: Sandbox, https_indexes: dict[str, object],
                              pip: str) -> None:
    env = _https_profile(sandbox, https_indexes)
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f"PATH={pip_bin(pip)}:$PATH wrap pip install -q --target {target} "
                      "foo bar-baz", **env)
    assert done.returncode == 0, done.stderr
    assert installed(target) == LOCAL
    assert installed(target, "bar_baz") == ("upstream", "2.0")


def test_https_index_with_uv_and_the_lock_keeps_the_real_urls(
        sandbox: Sandbox, https_indexes: dict[str, object], venv: Path) -> None:
    env = _https_profile(sandbox, https_indexes)
    target = sandbox.home / "t"
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml",
               '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
               'dependencies = ["foo", "bar-baz"]\n')
    done = sandbox.sh("bash", (
        f"wrap uv pip install -q --python {venv}/bin/python --target {target} foo bar-baz\n"
        f"cd {project} && wrap uv lock -q\n"), **env)
    assert done.returncode == 0, done.stderr
    assert installed(target) == LOCAL
    lock = (project / "uv.lock").read_text()
    assert f'source = {{ registry = "{https_indexes["local"]}" }}' in lock, lock
    upstream_files = str(https_indexes["upstream"]).replace("/simple/", "/files/")
    assert upstream_files + "bar_baz-2.0-py3-none-any.whl" in lock
    assert "127.0.0.1:" + str(https_indexes["other"]).split(":")[2].split("/")[0] not in lock


def test_uv_lock_then_sync_works_with_the_fallbacks_files(
        sandbox: Sandbox, https_indexes: dict[str, object], venv: Path) -> None:
    """The lock names the fallback's file URLs (bar-baz comes from upstream): the guard lets
    them through for a package whose registry is the profile's index, and the fence checks
    each file against the index's own pages (fetched on demand) and their sha256."""
    env = _https_profile(sandbox, https_indexes)
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml",
               '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
               'dependencies = ["foo", "bar-baz"]\n')
    done = sandbox.sh("bash", f"cd {project} && wrap uv lock -q\n", **env)
    assert done.returncode == 0, done.stderr
    # Another shell (another session of the fence, as a teammate's or CI's): it has seen
    # no page yet, and `--frozen` reads none.
    done = sandbox.sh("bash", (
        f"cd {project} && UV_CACHE_DIR={sandbox.home}/uvc "
        f"wrap uv sync -q --frozen --python {venv}/bin/python && echo synced\n"), **env)
    assert done.returncode == 0 and "synced" in done.stdout, done.stderr
    site = next((project / ".venv" / "lib").glob("python*/site-packages"))
    assert installed(site) == LOCAL
    assert installed(site, "bar_baz") == ("upstream", "2.0")


def test_a_lock_pointing_at_a_file_the_index_does_not_list_is_fenced(
        sandbox: Sandbox, https_indexes: dict[str, object], venv: Path) -> None:
    """A uv.lock edited to fetch Foo from another host under the profile's registry: the
    guard lets the registry's entry through, the fence finds no page listing that file."""
    env = _https_profile(sandbox, https_indexes)
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml",
               '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
               'dependencies = ["foo"]\n')
    done = sandbox.sh("bash", f"cd {project} && wrap uv lock -q\n", **env)
    assert done.returncode == 0, done.stderr
    lock = project / "uv.lock"
    text = lock.read_text()
    local_files = str(https_indexes["local"]).replace("/simple/", "/files/")
    other_files = str(https_indexes["other"]).replace("/simple/", "/files/")
    assert local_files in text, text
    # The other index's file of the same name (an evil Foo 1.0 elsewhere would look alike).
    text = text.replace(local_files, other_files)
    lock.write_text(text)
    done = sandbox.sh("bash", (
        f"cd {project} && UV_CACHE_DIR={sandbox.home}/uvc "
        f"wrap uv sync -q --frozen --python {venv}/bin/python; echo status=$?\n"), **env)
    assert "status=0" not in done.stdout, done.stdout + done.stderr
    site = next((project / ".venv" / "lib").glob("python*/site-packages"), None)
    assert site is None or installed(site) is None
    assert FENCE in done.stderr, done.stderr


def test_a_second_https_index_is_fenced(sandbox: Sandbox,
                                        https_indexes: dict[str, object]) -> None:
    env = _https_profile(sandbox, https_indexes)
    # The same profile without network isolation: what the CA variables alone hold.
    sandbox.write_config(sandbox.config.read_text() + '[profiles.open]\nindex-url = "'
                         f'{https_indexes["local"]}"\nca-file = "{https_indexes["ca"]}"\n'
                         'isolation = "off"\n')
    target = sandbox.home / "t"
    other = str(https_indexes["other"])
    direct = _py("import ssl, socket, urllib.request as u\n"
                 "h = u.build_opener(u.ProxyHandler({}))\n"
                 "try:\n"
                 f"    h.open({other + 'foo/'!r}, timeout=20); print('direct ok')\n"
                 "except OSError as x:\n"
                 "    print('direct', x)\n")
    done = sandbox.sh("bash", "\n".join([
        f"wrap pip install -q --target {target} --extra-index-url {other} foo; echo pip=$?",
        "wrap " + _py(fetch(other + "foo/")),
        # Around the proxy: a direct connection must not verify either, and in the
        # network namespace it reaches nothing at all.
        "PIPWRAP_PROFILE=open wrap " + direct,
        "wrap " + direct,
    ]), **env)
    # The guard refuses the extra index before pip runs; the fence refuses the rest.
    assert installed(target) is None, done.stderr
    assert f"{FENCE} GET {other}foo/" in done.stderr
    assert "direct ok" not in done.stdout
    lines = done.stdout.splitlines()
    assert "CERTIFICATE_VERIFY_FAILED" in lines[-2], done.stdout
    if netns.availability().available:
        assert "Connection refused" in lines[-1], done.stdout


# --- secrets live in the fence ------------------------------------------------------

SECRET = PRIVATE_SECRET


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_child_never_holds_the_secret(sandbox: Sandbox, private_index: PyPIServer,
                                          shell: str, tmp_path: Path) -> None:
    upload = private_index.url.replace("/simple/", "/")
    secret_file = write_file(tmp_path / "vault" / "token", SECRET)  # outside HOME
    sandbox.write_config(
        f'default = "corp"\n[profiles.corp]\nindex-url = "{private_index.url}"\n'
        f'upload-url = "{upload}"\nusername = "alice"\n'
        f'password-command = "cat {secret_file}"\n')
    target = sandbox.home / "t"
    trace = "set -x" if shell == "bash" else "setopt xtrace"
    done = sandbox.sh(shell, "\n".join([
        trace,
        f"wrap pip install -q --target {target} foo",
        "wrap sh -c 'env; cat \"$NETRC\"; cat ~/.netrc; cat ~/.pypirc' 2>&1",
        "pipwrap env --reveal",
        "pipwrap doctor >/dev/null 2>&1",
    ]))
    assert installed(target) == LOCAL, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert "HTTPS_PROXY=http://pipwrap:" in done.stdout
    for path in sandbox.home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("shell", SHELLS)
def test_a_password_env_variable_does_not_reach_the_command(
        sandbox: Sandbox, private_index: PyPIServer, shell: str) -> None:
    """The user exports the profile's password-env variable; the fence reads it and adds
    the login, the wrapped command does not inherit it (the shell itself keeps it)."""
    sandbox.write_config(
        f'default = "corp"\n[profiles.corp]\nindex-url = "{private_index.url}"\n'
        'username = "alice"\npassword-env = "CORP_PW"\n')
    target = sandbox.home / "t"
    done = sandbox.sh(shell, "\n".join([
        f"wrap pip install -q --target {target} foo",
        "wrap sh -c 'echo child=${CORP_PW-unset}; env | grep -c CORP_PW'",
        "echo shell=$CORP_PW",
    ]), CORP_PW=SECRET)
    assert installed(target) == LOCAL, done.stderr
    assert "child=unset" in done.stdout, done.stdout
    assert f"shell={SECRET}" in done.stdout
    assert done.stdout.count(SECRET) == 1, done.stdout


# --- a file whose bytes do not match the page ---------------------------------------

def test_a_hash_mismatch_is_cut_off(sandbox: Sandbox, tmp_path: Path) -> None:
    root = static_index.tree(tmp_path / "bad", [make_wheel(tmp_path / "w", "Foo", "1.0", "local")],
                             wrong_hash=True)
    with static_index.serve(root) as server:
        sandbox.write_config(f'default = "bad"\n[profiles.bad]\nindex-url = "{server.url}"\n')
        wheel_url = server.url.replace("/simple/", "/files/") + "foo-1.0-py3-none-any.whl"
        code = fetch(server.url + "foo/") + download(wheel_url)
        done = sandbox.sh("bash", "wrap " + _py(code))
    assert "status 200" in done.stdout, done.stdout + done.stderr
    assert "cut " in done.stdout, done.stdout
    assert f"{FENCE} GET {wheel_url}: its sha256" in done.stderr
    good = hashlib.sha256((root / "files" / "foo-1.0-py3-none-any.whl").read_bytes()).hexdigest()
    assert good in done.stderr
