"""`wrap twine upload` to the `local` profile while `pipwrap serve` is not running: the
fence's hint must start a serve that takes the upload. On main it said "start it with:
pipwrap serve", whose answer to the upload is 405 (uploads are off): the README's
`local` uploads need `pipwrap serve --auth none`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.sandbox import Sandbox
from tests.support.servers import free_port
from tests.support.wheels import make_wheel


@pytest.mark.parametrize("shell", ["bash", "fish"])
def test_an_upload_to_a_stopped_local_serve_hints_auth_none(sandbox: Sandbox, tmp_path: Path,
                                                            shell: str) -> None:
    base = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    sandbox.write_config(f'default = "local"\n[profiles.local]\nindex-url = "{base}/simple/"\n'
                         f'upload-url = "{base}/"\n')
    wheel = make_wheel(tmp_path / "dist", "hello-stopped", "1.0", "local")
    done = sandbox.sh(shell, f"wrap twine upload --disable-progress-bar {wheel}")
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0, said
    assert "start it with: pipwrap serve --auth none" in said, said
