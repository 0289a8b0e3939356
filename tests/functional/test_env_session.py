"""A session made by `pipwrap env` after its config changes (docs/reference.md, `pipwrap
env`): every request is refused, naming the file and saying to run `pipwrap env` again,
until that is done; then the current rules apply, looser or tighter. The attack (a
`reserved` added later that such a session did not apply) is
tests/functional/test_redteam_today.py::test_a_session_from_pipwrap_env_follows_a_config_change.

Staged as there: a local-first index (303 for names it lacks) holding bar-baz 1.0, and an
upstream holding Foo 9.9.9 and bar-baz 1.9.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.functional.test_sources import _json_upstream, _serve_json
from tests.support import static_index
from tests.support.sandbox import Sandbox, installed
from tests.support.wheels import make_wheel

REFUSED = "run pipwrap env again"


@dataclass
class Staged:
    upstream: str
    local_first: str


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staged]:
    base = tmp_path_factory.mktemp("env-session")
    pages = _json_upstream(base / "upstream", [
        (make_wheel(base / "w", "Foo", "9.9.9", "upstream"), 40 * 86400),
        (make_wheel(base / "w", "bar-baz", "1.9", "upstream"), 30 * 86400)])
    first = static_index.tree(base / "first", [make_wheel(base / "w1", "bar-baz", "1.0",
                                                          "local")])
    with _serve_json(base / "upstream", pages) as upstream, \
            static_index.serve(first, fallback=upstream) as local_first:
        yield Staged(upstream, local_first.url)


def _config(staged: Staged, *, reserved: bool, name: str = "corp") -> str:
    return (f'default = "{name}"\n[profiles.{name}]\nindex-url = "{staged.local_first}"\n'
            f'fallback = ["{staged.upstream}"]\n' + ('reserved = ["foo"]\n' if reserved else ""))


def _install(target: Path, project: str = "foo") -> str:
    # pip says why it could not fetch an index page only in its debug log (-vv): the
    # status line, which holds the fix. The 403's body says more (see _page).
    return (f"pip install -vv --no-cache-dir --target {target} {project} >{target}.log 2>&1; "
            f"echo {target.name}=$?; grep -i 'could not fetch\\|error' {target}.log\n")


def _page(project: str = "foo") -> str:
    """What a person asks when pip says no more: the index page, through the session."""
    return f'curl -sS "${{PIP_INDEX_URL}}{project}/"; echo\n'


def _run(sandbox: Sandbox, script: str) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = sandbox.sh("bash", script, how="plain")
    return done


def test_a_loosened_config_refuses_the_session_until_pipwrap_env_runs_again(
        sandbox: Sandbox, staged: Staged) -> None:
    """`reserved = ["foo"]` is dropped after the eval: the old session does not guess, it
    refuses (naming the file and the fix); `pipwrap env` again, and foo comes from the
    fallback, as the config now says."""
    sandbox.write_config(_config(staged, reserved=True))
    home = sandbox.home
    done = _run(sandbox, 'eval "$(pipwrap env --reveal)"\n'
                + _install(home / "reserved")
                + f"cat >{sandbox.config} <<'EOF'\n{_config(staged, reserved=False)}EOF\n"
                + _install(home / "stale") + _page()
                + 'eval "$(pipwrap env --reveal)"\n'
                + _install(home / "fresh"))
    out = done.stdout + done.stderr
    assert installed(home / "reserved") is None, out
    assert installed(home / "stale") is None, out
    assert "stale=1" in out, out
    assert REFUSED in out, out
    assert f"{sandbox.config} changed since `pipwrap env` made this session for profile " \
           "'corp'" in out, out
    assert installed(home / "fresh") == ("upstream", "9.9.9"), out


def test_a_removed_profile_fails_the_session_closed(sandbox: Sandbox, staged: Staged) -> None:
    """The profile the session was made for is renamed: the session refuses, and `pipwrap
    env` again says that profile is not there (nothing evaluable)."""
    sandbox.write_config(_config(staged, reserved=True))
    home = sandbox.home
    done = _run(sandbox, 'eval "$(pipwrap env --reveal --profile corp)"\n'
                + f"cat >{sandbox.config} <<'EOF'\n{_config(staged, reserved=True, name='team')}"
                  "EOF\n"
                + _install(home / "gone", "bar-baz")
                + 'pipwrap env --reveal --profile corp; echo again=$?\n')
    out = done.stdout + done.stderr
    assert installed(home / "gone", "bar_baz") is None, out
    assert "gone=1" in out and REFUSED in out, out
    assert "again=2" in out and "corp" in done.stderr, out
    assert "Traceback" not in out, out


def test_a_removed_config_file_fails_the_session_closed(sandbox: Sandbox,
                                                         staged: Staged) -> None:
    sandbox.write_config(_config(staged, reserved=True))
    home = sandbox.home
    done = _run(sandbox, 'eval "$(pipwrap env --reveal)"\n'
                + f"rm {sandbox.config}\n" + _install(home / "gone", "bar-baz")
                + _page("bar-baz"))
    out = done.stdout + done.stderr
    assert installed(home / "gone", "bar_baz") is None, out
    assert f"{sandbox.config} was removed since `pipwrap env`" in out, out


def test_an_unchanged_config_keeps_the_session_and_pipwrap_env_renews_it(
        sandbox: Sandbox, staged: Staged) -> None:
    """No change: the session serves every request. A write that changes nothing the
    session holds (the file's time) refuses it too; `pipwrap env` again gives the same
    session back (the same proxy URL) and it serves again."""
    sandbox.write_config(_config(staged, reserved=True))
    home = sandbox.home
    done = _run(sandbox, 'eval "$(pipwrap env --reveal)"\nfirst=$HTTPS_PROXY\n'
                + _install(home / "one", "bar-baz") + _install(home / "two", "bar-baz")
                + f"touch -d '+1 minute' {sandbox.config}\n"
                + _install(home / "touched", "bar-baz")
                + 'eval "$(pipwrap env --reveal)"\n'
                + '[ "$first" = "$HTTPS_PROXY" ] && echo same-session\n'
                + _install(home / "renewed", "bar-baz"))
    out = done.stdout + done.stderr
    for name in ("one", "two", "renewed"):
        assert installed(home / name, "bar_baz") == ("local", "1.0"), f"{name}\n{out}"
    assert installed(home / "touched", "bar_baz") is None, out
    assert REFUSED in out and "same-session" in out, out


@pytest.fixture(scope="module")
def tls_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An https index signed by a test CA: (its URL, the CA's PEM file)."""
    root = tmp_path_factory.mktemp("env-session-tls")
    ca = static_index.make_ca(root / "ca")
    tree = static_index.tree(root / "tree", [make_wheel(root / "w", "Foo", "1.0", "local")])
    with static_index.serve(tree, context=ca.server_context(root / "leaf")) as server:
        yield server.url, ca.cert


def test_over_https_pip_says_why_the_session_refuses(sandbox: Sandbox,
                                                      tls_index: tuple[str, Path]) -> None:
    """An https index: the fence refuses the tunnel itself, and pip's own warning (no -v)
    shows the status line that says what to do."""
    url, ca = tls_index
    sandbox.write_config(f'default = "tls"\n[profiles.tls]\nindex-url = "{url}"\n'
                         f'ca-file = "{ca}"\n')
    home = sandbox.home
    # --retries 1: one warning and no back-off wait (pip's default is 5 tries).
    pip = "pip install --retries 1 --no-cache-dir --target"
    done = _run(sandbox, 'eval "$(pipwrap env --reveal)"\n'
                f"{pip} {home / 'before'} foo; echo before=$?\n"
                f"""printf 'reserved = ["foo"]\\n' >>{sandbox.config}\n"""
                f"{pip} {home / 'after'} foo; echo after=$?\n")
    out = done.stdout + done.stderr
    assert installed(home / "before") == ("local", "1.0"), out
    assert installed(home / "after") is None and "after=1" in out, out
    assert "Tunnel connection failed: 403 Config changed since pipwrap env: run pipwrap env " \
           "again" in done.stderr, out
