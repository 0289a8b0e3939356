"""An upload to a `pipwrap serve` started without upload options says how to turn them on
for the case at hand: the README's laptop (`--auth none`, the built-in `local` profile
has no login) as well as a team's logins. On main it named `--htpasswd FILE` only, which
leaves the `local` profile's anonymous upload refused again (401)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import hosting
from tests.support.sandbox import Sandbox
from tests.support.wheels import make_wheel


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_uploads_off_names_auth_none_for_this_machine(sandbox: Sandbox, tmp_path: Path,
                                                      shell: str) -> None:
    wheel = make_wheel(tmp_path / "dist", "hello-off", "1.0", "local")
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--no-fallback",
                               env=sandbox.env) as served:
        sandbox.write_config(f'default = "mine"\n[profiles.mine]\nindex-url = "{served.url}"\n'
                             f'upload-url = "{served.base}/"\n')
        done = sandbox.sh(shell, f"wrap uv publish {wheel}")
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0, said
    assert "uploads are off on this server" in said, said
    assert "pipwrap serve --auth none" in said and "--htpasswd FILE" in said, said
