"""What the journeys share, made once per session: a stand-in PyPI, the person's own
repository and the servers over it, a venv with pip, and a clean HOME per journey.

The staged shape of every safety claim: the person's index holds `foo 1.0` (and
`hello-app 1.0`, which needs `foo` and `dep-lib`); the stand-in PyPI holds the attacker's
`foo 9.9.9` and the legit `dep-lib 1.0`, which reaches the person only through the
fallback of their index.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import hosting
from tests.support.port8080 import on_port_8080
from tests.support.sandbox import Built, uv_dir
from tests.support.servers import PyPIServer, serving
from tests.support.shells import isolated_env
from tests.support.static_index import make_ca
from tests.support.uploads import sha_entry
from tests.support.wheels import make_wheel

TEAM_USER, TEAM_PASSWORD = "alice", "team-S3cret-pw"
BIN = Path(sys.executable).parent
PLAIN_USER = "pipwrap-journey"


@dataclass
class Stock:
    upstream_dir: Path  # the stand-in PyPI's files: evil foo 9.9.9, dep-lib 1.0
    own_dir: Path  # the person's wheels: foo 1.0, hello-app 1.0 (needs foo, dep-lib)
    repo: Path  # a `pipwrap repo` tree holding own_dir's wheels


@dataclass
class Team:
    url: str  # https://127.0.0.1:PORT/simple/
    base: str  # https://127.0.0.1:PORT/
    ca: Path  # the team's own CA certificate (the leaf is signed by it)


@pytest.fixture(scope="session")
def stock(tmp_path_factory: pytest.TempPathFactory) -> Stock:
    root = tmp_path_factory.mktemp("stock")
    make_wheel(root / "upstream", "Foo", "9.9.9", "evil")
    make_wheel(root / "upstream", "dep-lib", "1.0", "upstream")
    make_wheel(root / "own", "Foo", "1.0", "local")
    make_wheel(root / "own", "hello-app", "1.0", "local", requires_dist=("foo", "dep-lib"))
    repo = root / "repo"
    subprocess.run([sys.executable, "-m", "pipwrap", "repo", "add", "--repo", str(repo),
                    *map(str, sorted((root / "own").iterdir()))],
                   check=True, capture_output=True, timeout=60,
                   env=hosting.child_env(root))
    os.chmod(root, 0o755)  # noqa: S103 - the plain user reads it too
    return Stock(root / "upstream", root / "own", repo)


@pytest.fixture(scope="session")
def pypi(stock: Stock) -> Iterator[PyPIServer]:
    """The stand-in PyPI on loopback (pypiserver, no fallback of its own)."""
    with serving(stock.upstream_dir) as server:
        yield server


def _copy_repo(stock: Stock, where: Path) -> Path:
    shutil.copytree(stock.repo, where, symlinks=True)
    return where


def _serve_copy(stock: Stock, pypi: PyPIServer, root: Path) -> Iterator[str]:
    with hosting.pipwrap_serve(_copy_repo(stock, root / "repo"), root / "log",
                               "--fallback", pypi.url,
                               env=hosting.child_env(root)) as served:
        yield served.url


@pytest.fixture(scope="session")
def own_index(stock: Stock, pypi: PyPIServer,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`pipwrap serve` over the person's repository, falling back to the stand-in PyPI."""
    yield from _serve_copy(stock, pypi, tmp_path_factory.mktemp("own-index"))


@pytest.fixture(scope="session")
def other_index(stock: Stock, pypi: PyPIServer,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second index holding the same files (a mirror): another profile's."""
    yield from _serve_copy(stock, pypi, tmp_path_factory.mktemp("other-index"))


@pytest.fixture(scope="session")
def team(stock: Stock, pypi: PyPIServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """The team's server: `pipwrap serve` over HTTPS with a leaf signed by the team's own
    CA, a login to read and to upload, falling back to the stand-in PyPI."""
    root = tmp_path_factory.mktemp("team")
    os.chmod(root, 0o755)  # noqa: S103 - public certificates only; the plain user reads them
    ca = make_ca(root / "ca")
    ca.server_context(root / "leaf")  # writes leaf/server.pem: key and leaf certificate
    (root / "htpasswd").write_text(f"{TEAM_USER}:{sha_entry(TEAM_PASSWORD)}\n")
    from tests.support.servers import free_port

    port = free_port()
    argv = [sys.executable, "-m", "pipwrap", "serve", "--repo",
            str(_copy_repo(stock, root / "repo")), "--port", str(port), "--fallback",
            pypi.url, "--tls-cert", str(root / "leaf/server.pem"), "--htpasswd",
            str(root / "htpasswd"), "--auth", "read,upload"]
    with (root / "log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True,
                                   env=hosting.child_env(root))
    try:
        import ssl
        import time
        import urllib.error
        import urllib.request

        context = ssl.create_default_context(cafile=str(ca.cert))
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"https://127.0.0.1:{port}/simple/", timeout=2,
                                       context=context)
            except urllib.error.HTTPError:
                break  # 401: up, and asking for the login
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, \
                    (root / "log").read_text()
                time.sleep(0.05)
        yield Team(f"https://127.0.0.1:{port}/simple/", f"https://127.0.0.1:{port}/",
                   ca.cert)
    finally:
        hosting._stop(process)


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PATH entry holding what a person has installed: pipwrap, uv, twine."""
    path = tmp_path_factory.mktemp("tools")
    for name in ("pipwrap", "twine"):
        (path / name).symlink_to(BIN / name)
    for name in ("uv", "uvx"):
        (path / name).symlink_to(uv_dir() / name)
    return path


@pytest.fixture(scope="session")
def pip_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with pip (ensurepip, offline): the person's active environment."""
    path = tmp_path_factory.mktemp("pip-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def person_env(home: Path, *path: Path) -> dict[str, str]:
    """A new person's environment: own HOME and XDG dirs (XDG_CONFIG_DIRS too), no
    PIP_*/UV_* of the developer's, no pipwrap config, nothing that answers prompts."""
    env = isolated_env(home, list(path))
    for name in ("PIPWRAP_CONFIG", "PIP_NO_INPUT"):
        env.pop(name)
    return env


@pytest.fixture
def env(home: Path, tools: Path, pip_venv: Path) -> dict[str, str]:
    return person_env(home, tools, pip_venv / "bin")


@pytest.fixture
def port_8080() -> Iterator[list[str]]:
    """A prefix giving a command port 8080 (the built-in profile's): a network namespace
    of its own, or this machine's 8080 held under a lock (tests/support/port8080.py)."""
    with on_port_8080() as prefix:
        yield prefix


@pytest.fixture(scope="session")
def plain_user(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[str, Path]]:
    """A plain (non-root) user with pipwrap installed for it from the built wheel
    (into a venv of the system's Python: this Python may live under /root)."""
    if os.geteuid() != 0:
        yield pwd.getpwuid(os.geteuid()).pw_name, Path(sys.executable).parent
        return
    try:
        pwd.getpwnam(PLAIN_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh",
                               PLAIN_USER], capture_output=True, text=True, timeout=30,
                              check=False)
        if made.returncode != 0:
            pytest.skip(f"cannot create a plain user (useradd: {made.stderr.strip()})")
    root = Path(tempfile.mkdtemp(prefix="pipwrap-journey-"))
    os.chmod(root, 0o755)  # noqa: S103 - the plain user runs the venv inside
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    venv = root / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    from tests.support import dist

    # The system Python's ensurepip may be older than the pips pipwrap supports (23.2+):
    # the stand-in PyPI's pip comes too.
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-index",
                    "--find-links", str(built.pypi), "--upgrade", "pip", "pipwrap-cli"],
                   check=True,
                   timeout=300, env=dist.clean_env(), capture_output=True)
    try:
        yield PLAIN_USER, venv / "bin"
    finally:
        shutil.rmtree(root, ignore_errors=True)
