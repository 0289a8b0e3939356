"""Red-team pass 3 (2026-12-06) against what landed today: serve on granian, the
X-Pipwrap-Origin mark the fence reads for `reserved` names, `pipwrap env` sessions that
refuse after a config change.

Staged as tests/functional/test_redteam_today.py does: an upstream serving PEP 691 JSON
holds an evil Foo 9.9.9; the team's index holds (or does not hold) foo 1.0. Each test first
shows the attack succeeding without pipwrap's protection, then asserts the SAFE outcome
through `wrap`: a strict xfail is an attack that still succeeds (the lead removes the mark
with the fix).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.functional.test_sources import _json_upstream, _serve_json
from tests.support.sandbox import Sandbox, installed
from tests.support.wheels import make_wheel

TIMEOUT = 120


@dataclass
class Staged:
    upstream: str


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staged]:
    base = tmp_path_factory.mktemp("redteam3")
    pages = _json_upstream(base / "upstream", [
        (make_wheel(base / "w", "Foo", "9.9.9", "evil"), 40 * 86400),
        (make_wheel(base / "w", "bar-baz", "1.9", "upstream"), 30 * 86400)])
    with _serve_json(base / "upstream", pages) as upstream:
        yield Staged(upstream)


def _plain_pip(venv: Path, env: dict[str, str], index: str, target: Path,
               *names: str) -> subprocess.CompletedProcess[str]:
    """pip without pipwrap: the baseline a test compares `wrap` with."""
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                           "--no-cache-dir", "--index-url", index, "--target", str(target),
                           *names], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


# -- 1. `reserved` without `fallback`: the X-Pipwrap-Origin mark is never read -------------

@pytest.mark.xfail(strict=True, reason=(
    "fence/agent.py:_rules returns None unless the profile has a fallback or a cooldown, so "
    "the fence passes the index's pages as they are and never reads the X-Pipwrap-Origin "
    "mark: `reserved` is silently inert for a profile whose only source is the team's "
    "`serve --cache` (the setup hosting-team.md recommends: clients never contact PyPI)"))
def test_a_reserved_name_behind_a_caching_index_with_no_profile_fallback(
        sandbox: Sandbox, staged: Staged, venv: Path, tmp_path: Path) -> None:
    """The team's index is `pipwrap serve --cache --fallback PYPI`, the only source the
    profile names (hosting-team.md: "clients never contact PyPI"); the user reserves foo.
    hosting-team.md says a cached page "carries X-Pipwrap-Origin: upstream ... so a
    profile's reserved names are refused through it unless the tree holds them"."""
    from tests.support import hosting
    from tests.support.publishing import client_env

    env = client_env(tmp_path)
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--cache",
                               "--fallback", staged.upstream, env=env) as served:
        bare = _plain_pip(venv, env, served.url, tmp_path / "bare", "foo")
        assert installed(tmp_path / "bare") == ("evil", "9.9.9"), bare.stderr
        sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                             f'index-url = "{served.url}"\nreserved = ["foo"]\n')
        target = sandbox.home / "t"
        done = sandbox.sh("bash", f"wrap pip install --no-cache-dir --target {target} foo; "
                                  "echo status=$?")
        told = sandbox.sh("bash", "pipwrap explain foo; echo status=$?")
    out = done.stdout + done.stderr + told.stdout + told.stderr
    assert installed(target) is None, out
    assert "'foo' is reserved" in done.stderr, out
