"""The fence agent as a person meets it, in interactive shells on terminals: two (here
three: bash, zsh, fish) shells using `wrap` at once share one agent, one shell's slow
download does not hold up the others, and a shell closing leaves the others working;
the agent killed between commands (the next command works) and during one (that command
fails with a word about the fence or its proxy, not a misleading one such as pip's
"THESE PACKAGES DO NOT MATCH THE HASHES", and the next works).

Before issue 21, the command killed during its download reported only pip's hash mismatch
(the cut-off file) in zsh and fish, or pip's own ProxyError traceback in bash (design
rule of issue 21 "What to build" 1: a session survives an agent restart, a refusal is
shown for every command that hit one).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import journey
from tests.support.slow_index import SlowIndex, slow_index
from tests.support.wheels import make_wheel


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[SlowIndex]:
    wheel = make_wheel(tmp_path / "slow-wheel", "slowpkg", "1.0", "slow")
    with slow_index(wheel, hold=4) as index:
        yield index


def write_config(env: dict[str, str], own_index: str, slow: SlowIndex) -> None:
    config = Path(env["XDG_CONFIG_HOME"], "pipwrap/config.toml")
    config.parent.mkdir(parents=True)
    config.write_text(f'default = "own"\n\n[profiles.own]\nindex-url = "{own_index}"\n\n'
                      f'[profiles.slow]\nindex-url = "{slow.url}"\n')


def got(home: Path, directory: str) -> list[str]:
    return sorted(p.name for p in (home / directory).glob("*"))


def kill_agents(home: Path) -> list[int]:
    killed = journey.agents(home)
    assert killed, "no fence agent was running"
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while journey.agents(home) and time.monotonic() < deadline:
        time.sleep(0.05)
    return killed


DOWNLOAD = "wrap pip download -q --no-deps -d ~/{} foo"
SLOW = "PIPWRAP_PROFILE=slow wrap pip download -q --no-deps -d ~/{} slowpkg"


def test_three_shells_at_once_share_one_agent(env: dict[str, str], home: Path,
                                              own_index: str, slow: SlowIndex) -> None:
    write_config(env, own_index, slow)
    opened = [journey.Terminal(shell, env) for shell in journey.SHELLS]
    with journey.terminals(*opened) as (bash, zsh, fish):
        for term in (bash, zsh, fish):
            status, _ = term.do(DOWNLOAD.format(f"first-{term.shell}"))
            assert status == 0, f"{term.shell}:\n{term.text()}"
        assert len(journey.agents(home)) == 1, journey.agents(home)
        bash.start(SLOW.format("slow-bash"))  # bash is busy downloading
        assert slow.started.wait(30), f"the slow download never started:\n{bash.text()}"
        for term in (zsh, fish):
            status, _ = term.do(DOWNLOAD.format(f"meanwhile-{term.shell}"), timeout=30)
            assert status == 0, f"{term.shell}:\n{term.text()}"
        status, _ = bash.finish(60)
        assert status == 0, f"bash's slow download:\n{bash.text()}"
        assert len(journey.agents(home)) == 1, journey.agents(home)
        bash.close()  # one shell goes; the others carry on
        for term in (zsh, fish):
            status, _ = term.do(DOWNLOAD.format(f"after-{term.shell}"), timeout=30)
            assert status == 0, f"{term.shell}:\n{term.text()}"
    for shell in journey.SHELLS:
        assert got(home, f"first-{shell}") == ["foo-1.0-py3-none-any.whl"], shell
    assert got(home, "slow-bash") == ["slowpkg-1.0-py3-none-any.whl"]
    for shell in ("zsh", "fish"):
        assert got(home, f"after-{shell}") == ["foo-1.0-py3-none-any.whl"], shell


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_the_agent_killed_between_and_during_commands(shell: str, env: dict[str, str],
                                                      home: Path, own_index: str,
                                                      slow: SlowIndex) -> None:
    write_config(env, own_index, slow)
    with journey.terminals(journey.Terminal(shell, env)) as (term,):
        status, _ = term.do(DOWNLOAD.format("one"))
        assert status == 0, term.text()
        kill_agents(home)
        status, _ = term.do(DOWNLOAD.format("two"), timeout=30)
        assert status == 0, f"the next command after the agent was killed:\n{term.text()}"
        term.start(SLOW.format("slow"))
        assert slow.started.wait(30), f"the slow download never started:\n{term.text()}"
        kill_agents(home)
        status, said = term.finish(60)
        assert status != 0, f"the command whose agent was killed succeeded:\n{term.text()}"
        assert "pipwrap: the fence agent exited during this command" in said, \
            f"no word of the fence:\n{term.text()}"
        status, _ = term.do(DOWNLOAD.format("three"), timeout=30)
        assert status == 0, f"the next command:\n{term.text()}"
    for directory in ("one", "two", "three"):
        assert got(home, directory) == ["foo-1.0-py3-none-any.whl"], directory
    assert got(home, "slow") == []
