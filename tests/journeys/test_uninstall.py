"""Uninstall and reinstall with shells open: pipwrap installed with pipx (from a stand-in
PyPI holding the wheel built from this checkout), bash, zsh and fish open with README's
guarded init line and using `wrap`; `pipx uninstall pipwrap-cli`: the fence agent exits,
each open shell's `wrap` says pipwrap is gone (and runs nothing); `pipx install` again: a
new shell works.

Written for issue 21 item 9 (the agent keeps running from the deleted environment
until every shell exits, and the open shells' `wrap` keeps using it).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from tests.journeys.conftest import person_env
from tests.support import dist, journey
from tests.support.sandbox import Built, uv_dir


def pipx(env: dict[str, str], built: Built, *args: str) -> None:
    done = subprocess.run(["pipx", *args], env={**env, **dist.from_stand_in(built.pypi)},
                          capture_output=True, text=True, timeout=300, check=False,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"pipx {' '.join(args)}:\n{done.stdout}{done.stderr}"


def ran_pip(output: str) -> bool:
    return bool(re.search(r"(?m)^pip \d+\.", output))


def test_uninstall_and_reinstall_with_shells_open(built: Built, home: Path, pip_venv: Path,
                                                  own_index: str) -> None:
    tools = home / "tools"
    tools.mkdir()
    (tools / "pipx").symlink_to(Path(sys.executable).parent / "pipx")
    (tools / "python3").symlink_to(sys.executable)
    (tools / "uv").symlink_to(uv_dir() / "uv")
    env = person_env(home, home / ".local/bin", tools, pip_venv / "bin")
    config = Path(env["XDG_CONFIG_HOME"], "pipwrap/config.toml")
    config.parent.mkdir(parents=True)
    config.write_text(f'default = "own"\n\n[profiles.own]\nindex-url = "{own_index}"\n')
    pipx(env, built, "install", "pipwrap-cli")
    opened = [journey.Terminal(shell, env) for shell in journey.SHELLS]
    with journey.terminals(*opened) as (bash, _zsh, _fish):
        for term in opened:
            status, _ = term.do(f"wrap pip download -q --no-deps -d ~/{term.shell} foo")
            assert status == 0, f"{term.shell} before the uninstall:\n{term.text()}"
        assert len(journey.agents(home)) == 1, journey.agents(home)
        status, _ = bash.do("pipx uninstall pipwrap-cli", timeout=120)
        assert status == 0, bash.text()
        # The person's next command comes a moment later; the agent has that long.
        deadline = time.monotonic() + 10
        while journey.agents(home) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [journey.command_line(pid) for pid in journey.agents(home)]
        assert not left, f"the fence agent outlived the uninstall: {left}"
        for term in opened:
            status, said = term.do("wrap pip --version", timeout=30)
            assert status != 0 and not ran_pip(said), \
                f"{term.shell}: wrap ran pip after pipwrap was uninstalled:\n{term.text()}"
            assert "pipwrap" in said and "Traceback" not in said, \
                f"{term.shell}: no word that pipwrap is gone:\n{term.text()}"
    pipx(env, built, "install", "pipwrap-cli")
    with journey.terminals(journey.Terminal("bash", env, name="a new bash")) as (new,):
        status, _ = new.do("wrap pip download -q --no-deps -d ~/again foo")
        assert status == 0, f"a new shell after the reinstall:\n{new.text()}"
    assert sorted(p.name for p in (home / "again").glob("*")) == ["foo-1.0-py3-none-any.whl"]
