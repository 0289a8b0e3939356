"""Hints name the install command that fits how pipwrap was installed: serve's bcrypt hint
in a pipx and a `uv tool` install (issue 21, item 9)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import dist
from tests.support.sandbox import Built, uv_dir
from tests.support.shells import isolated_env

# `htpasswd -nbB alice secret`: a bcrypt entry, which needs the optional bcrypt package.
BCRYPT_ENTRY = "alice:$2y$05$1Gl2UVgUxCMPj7b2Y1qZ5OaYvF4k8sQ9rQ4aS3oYlKx3bAbFQ3tcu\n"


# With the `serve` extra, as README installs it (without it serve first names granian:
# tests/functional/test_serve_granian.py).
@pytest.mark.parametrize("how,hint", [
    ("pipx install --backend uv pipwrap-cli[serve]", "pipx inject pipwrap-cli bcrypt"),
    ("uv tool install pipwrap-cli[serve]", "uv tool install --with bcrypt 'pipwrap-cli[serve]'"),
])
def test_the_bcrypt_hint_names_the_install_that_fits(built: Built, tmp_path: Path, how: str,
                                                    hint: str) -> None:
    # A new user's PATH: ~/.local/bin (where pipx and uv put `pipwrap`), pipx and uv;
    # "PyPI" is the stand-in holding the built wheel and its dependencies.
    env = {**isolated_env(tmp_path, [tmp_path / ".local/bin", Path(sys.executable).parent,
                                     uv_dir()]), **dist.from_stand_in(built.pypi)}
    del env["PIPWRAP_CONFIG"]

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL, check=False)

    done = run(*how.split())
    assert done.returncode == 0, done.stdout + done.stderr
    assert Path(env["HOME"], ".local/bin/pipwrap").exists()
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(BCRYPT_ENTRY)
    served = run(str(tmp_path / ".local/bin/pipwrap"), "serve", "--port", "0", "--htpasswd",
                 str(htpasswd))
    assert served.returncode == 2, served.stdout + served.stderr
    assert f"{htpasswd}, line 1" in served.stderr and hint in served.stderr, served.stderr
    assert "pip install bcrypt" not in served.stderr and "Traceback" not in served.stderr
