"""A uv project under `wrap`: init, add (a dependency through the index's fallback),
lock, sync, then the same project with another profile (`PIPWRAP_PROFILE=other`, a
mirror of the same files). pyproject.toml stays the person's: it never gains pipwrap's
index.

Written for issue 21 item 5 (`wrap uv add` writes `[[tool.uv.index]]` with the
profile's URL into pyproject.toml; every other profile is then refused, exit 3).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import journey


def script(shell: str) -> str:
    status = journey.status_of(shell)
    return f"""
mkdir proj; cd proj
echo '== wrap uv init'
wrap uv init --no-workspace --name proj
echo "status={status}"
echo '== wrap uv add'
wrap uv add foo hello-app
echo "status={status}"
echo '== wrap uv lock'
wrap uv lock
echo "status={status}"
echo '== wrap uv sync'
wrap uv sync
echo "status={status}"
echo '== another profile: lock'
PIPWRAP_PROFILE=other wrap uv lock
echo "status={status}"
echo '== another profile: sync'
PIPWRAP_PROFILE=other wrap uv sync
echo "status={status}"
echo '== what the project runs'
.venv/bin/python -c 'import foo, dep_lib; print("foo", foo.ORIGIN, foo.VERSION, "dep", dep_lib.ORIGIN)'
"""


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_a_uv_project_keeps_its_files_and_switches_profile(
        shell: str, env: dict[str, str], home: Path, own_index: str,
        other_index: str) -> None:
    config = Path(env["XDG_CONFIG_HOME"], "pipwrap/config.toml")
    config.parent.mkdir(parents=True)
    config.write_text(f'default = "own"\n\n[profiles.own]\nindex-url = "{own_index}"\n\n'
                      f'[profiles.other]\nindex-url = "{other_index}"\n')
    seen = journey.run(shell, script(shell), env, timeout=90)
    out = seen.output
    for step in ("== wrap uv init", "== wrap uv add", "== wrap uv lock", "== wrap uv sync",
                 "== another profile: lock", "== another profile: sync"):
        assert seen.after(step).rstrip().endswith("status=0"), f"{step}:\n{out}"
    pyproject = (home / "proj/pyproject.toml").read_text()
    assert "tool.uv" not in pyproject and "127.0.0.1" not in pyproject, \
        f"pyproject.toml gained pipwrap's index:\n{pyproject}"
    assert "foo local 1.0 dep upstream" in seen.after("== what the project runs"), out
    assert "Traceback" not in out, out
