"""Publishing to the person's own `pipwrap serve --auth none` through the built-in `local`
profile (its upload-url is serve's root, port 8080 in a network namespace of the
journey's own): `wrap twine upload` and `wrap uv publish`, never a prompt, then both
releases installed back with `wrap pip download`.

Written for issue 21 item 9 (`wrap uv publish` is not pointed at the upload-url: it
goes to the public index, is fenced, then asks for a login) and item 1 (the upload-url
at the root turns every request to serve into an "upload").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import journey
from tests.support.wheels import make_wheel


def script(shell: str) -> str:
    status = journey.status_of(shell)
    serve = "command pipwrap serve" if shell == "fish" else "pipwrap serve"
    return f"""
echo '== the person serves their repository, uploads on'
{serve} --auth none --no-fallback >~/serve.log 2>&1 &
sleep 1
echo '== wrap twine upload'
wrap twine upload dist/mine-1.0-py3-none-any.whl
echo "status={status}"
echo '== wrap uv publish'
wrap uv publish dist/mine-2.0-py3-none-any.whl
echo "status={status}"
echo '== both come back'
wrap pip download -q --no-deps -d ~/got mine==1.0
wrap pip download -q --no-deps -d ~/got mine==2.0
echo "status={status}"
"""


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_twine_and_uv_publish_to_serve(shell: str, env: dict[str, str], home: Path,
                                       port_8080: list[str]) -> None:
    for version in ("1.0", "2.0"):
        make_wheel(home / "dist", "mine", version, "mine")
    seen = journey.run(shell, script(shell), env, timeout=90, prefix=port_8080)
    out = seen.output
    for step in ("== wrap twine upload", "== wrap uv publish", "== both come back"):
        assert seen.after(step).rstrip().endswith("status=0"), f"{step}:\n{out}"
    assert sorted(p.name for p in (home / "got").glob("*")) == [
        "mine-1.0-py3-none-any.whl", "mine-2.0-py3-none-any.whl"], out
    assert "Traceback" not in out and "username" not in out.lower(), out
