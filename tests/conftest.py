"""Session-wide real parts: wheels, two pypiservers, a fresh venv with pip; per-test HOME."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import plain_user as plain_user_mod
from tests.support import shells
from tests.support.sandbox import Built, Indexes, Sandbox, private_pypiserver, uv_dir
from tests.support.servers import PyPIServer, serving
from tests.support.wheels import make_wheel


@pytest.fixture(scope="session")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexes]:
    root = tmp_path_factory.mktemp("indexes")
    make_wheel(root / "upstream", "Foo", "9.9.9", "evil")
    make_wheel(root / "upstream", "bar-baz", "2.0", "upstream")
    make_wheel(root / "local", "Foo", "1.0", "local")
    make_wheel(root / "evil-links", "Foo", "9.9.9", "evil")
    with serving(root / "upstream") as upstream, serving(
        root / "local", fallback=upstream.url
    ) as local:
        yield Indexes(upstream, local, root / "evil-links")


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the pip that ships with this Python (ensurepip, offline)."""
    path = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path


@pytest.fixture
def sandbox(tmp_path: Path, indexes: Indexes, venv: Path) -> Sandbox:
    home = tmp_path / "home"
    home.mkdir()
    env = shells.isolated_env(home, [venv / "bin", uv_dir()])
    box = Sandbox(home, env, Path(env["PIPWRAP_CONFIG"]))
    box.write_config(
        'default = "local"\n\n'
        f'[profiles.local]\nindex-url = "{indexes.local.url}"\n\n'
        f'[profiles.upstream]\nindex-url = "{indexes.upstream.url}"\n'
    )
    return box


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """pipwrap-cli's sdist and wheel, built once per session (tests/support/dist.py)."""
    from tests.support import dist

    out = tmp_path_factory.mktemp("built")
    sdist, wheel = dist.build(out)
    return Built(sdist, wheel, dist.stand_in_pypi(wheel, out))


@pytest.fixture(scope="session")
def private_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyPIServer]:
    """A pypiserver that wants alice's login (PRIVATE_SECRET) to read."""
    with private_pypiserver(tmp_path_factory.mktemp("private")) as server:
        yield server


@pytest.fixture(scope="session")
def plain_user() -> Iterator[plain_user_mod.User]:
    """A user who is not root (made with useradd when the tests run as root)."""
    import shutil

    user = plain_user_mod.ensure()
    if user is None:
        pytest.skip("no plain user can be had here (useradd failed, or no python for it)")
    try:
        yield user
    finally:
        shutil.rmtree(user.workdir, ignore_errors=True)
