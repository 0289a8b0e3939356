"""Issue 22's escaped-key hole in hatch: ``env-vars`` in hatch.toml whose names are written
with TOML escapes (``"PIP\\u005FEXTRA\\u005FINDEX\\u005FURL"``) or quoted
(``"NO_PROXY" = "*"``) pass the guard's line reading, and hatch gives them to the pip that
fills its environment. Staged as test_fence_holes.py stages tox's: bare, the evil Foo
9.9.9 wins; under `wrap` with isolation it does not; with `isolation = "off"` it does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.test_fence_holes import FenceBypassed, _bare_then_wrapped, needs_isolation
from tests.support.sandbox import Indexes, Sandbox, write_file

PRINT = "import foo; print('ORIGIN', foo.ORIGIN, foo.VERSION)"


@pytest.fixture(scope="session")
def hatch_bin() -> Path:
    """hatch from the tools venv the fence's tool tests keep (made once, cached)."""
    from tests.support.toolsvenv import tools_venv

    return tools_venv() / "bin"


def _stage(sandbox: Sandbox, indexes: Indexes, hatch_bin: Path) -> None:
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml", '[project]\nname = "tiny"\nversion = "0.1"\n')
    write_file(project / "hatch.toml", (
        '[envs.default]\nskip-install = true\ndependencies = ["foo"]\n\n'
        '[envs.default.env-vars]\n'
        f'"PIP\\u005FEXTRA\\u005FINDEX\\u005FURL" = "{indexes.upstream.url}"\n'
        '"PIP\\u005FPROXY" = ""\n"NO_PROXY" = "*"\n"no_proxy" = "*"\n'))
    _bare_then_wrapped(sandbox, indexes, f"cd {project}",
                       f"env HATCH_DATA_DIR={sandbox.home}/hatch-WHO {hatch_bin}/hatch -q "
                       f"run python -c \"{PRINT}\"")


@needs_isolation
def test_hatch_env_vars_with_escaped_keys(sandbox: Sandbox, indexes: Indexes,
                                          hatch_bin: Path) -> None:
    _stage(sandbox, indexes, hatch_bin)


def test_hatch_env_vars_with_escaped_keys_without_isolation(
        sandbox: Sandbox, indexes: Indexes, hatch_bin: Path) -> None:
    sandbox.write_config(f'default = "local"\n[profiles.local]\nindex-url = '
                         f'"{indexes.local.url}"\nisolation = "off"\n')
    with pytest.raises(FenceBypassed):
        _stage(sandbox, indexes, hatch_bin)
