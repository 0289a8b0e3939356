"""A name the upstream serves belongs to the upstream until an operator claims it (PyPI's
rule for a team index with a fallback; red-team 3 finding 2).

On main, the first upload of any name the tree did not hold claimed it, even one that
`serve --cache`/`--fallback` answers from the upstream: once held (local-first), the
upstream's files of that name were hidden, so a stolen CI upload token changed what
`pip install bar-baz==1.9` installs (test_redteam3.py holds the attack itself). Each test
drives `pipwrap serve` with the real clients (twine --verbose, uv publish, pip).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.test_serve_upload import twine  # --verbose: the refusal's body
from tests.functional.test_sources import _failing, _json_upstream, _serve_json
from tests.support import hosting
from tests.support.publishing import client_env, pip_install, pipwrap
from tests.support.sandbox import installed
from tests.support.servers import free_port
from tests.support.uploads import sha_entry, uv_publish
from tests.support.wheels import make_wheel

MODES = {"serve --cache": ("--cache",), "serve --fallback (303)": ()}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An upstream (PEP 691 JSON) serving bar-baz 1.9, a project the team uses from it."""
    base = tmp_path_factory.mktemp("upstream")
    pages = _json_upstream(base / "up", [
        (make_wheel(base / "w", "bar-baz", "1.9", "upstream"), 30 * 86400)])
    with _serve_json(base / "up", pages) as url:
        yield url


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return client_env(tmp_path)


def _joined(output: str) -> str:
    """twine's output as one line (rich wraps it at the terminal's width)."""
    return " ".join(output.split())


def _logins(tmp_path: Path) -> Path:
    logins = tmp_path / "htpasswd"
    logins.write_text(f"release-ci:{sha_entry('ci-pw')}\nalice:{sha_entry('alice-pw')}\n")
    return logins


@pytest.mark.parametrize("mode", MODES)
def test_a_first_upload_of_a_name_the_upstream_serves_is_refused(
        tmp_path: Path, env: dict[str, str], upstream: str, venv: Path, mode: str) -> None:
    """twine and uv publish both hear why (the body) and what the operator runs; serve's
    log says it too; bar-baz==1.9 still installs the upstream's file."""
    evil = make_wheel(tmp_path / "evil", "bar-baz", "1.9", "evil")
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", *MODES[mode],
                               "--fallback", upstream, "--htpasswd", str(_logins(tmp_path)),
                               env=env) as served:
        pushed = twine(env, f"{served.base}/", evil, user="release-ci", password="ci-pw")
        published = uv_publish(env, f"{served.base}/", evil, user="release-ci",
                               password="ci-pw")
        after = pip_install(env, venv, f"{served.url}", tmp_path / "t", "bar-baz==1.9")
    sentence = (f"bar-baz is served from the upstream ({upstream})", "an operator claims it "
                "for this index first: pipwrap repo owner add bar-baz release-ci")
    told = _joined(pushed.stdout + pushed.stderr)
    assert pushed.returncode != 0 and "403" in told, told
    assert all(part in told for part in sentence), told
    heard = _joined(published.stderr)
    assert published.returncode != 0, heard
    assert all(part in heard for part in sentence), heard
    log = served.log.read_text()
    assert "upload refused (403) from release-ci: bar-baz is served from the upstream" in log
    assert installed(tmp_path / "t", "bar_baz") == ("upstream", "1.9"), after.stderr
    assert not (tmp_path / "repo" / "bar-baz").exists()
    assert pipwrap(env, "repo", "owner", "list", "--repo", str(tmp_path / "repo")).stdout == ""


def test_the_operators_claim_lets_its_owner_upload(
        tmp_path: Path, env: dict[str, str], upstream: str, venv: Path) -> None:
    """`repo owner add` claims a name the tree does not hold. The claim alone hides
    nothing (1.9 still comes from the upstream); only its owner may upload; once it has,
    the name is held here, and a pin of a version only the upstream has fails closed."""
    root = tmp_path / "repo"
    root.mkdir()
    claimed = pipwrap(env, "repo", "owner", "add", "--repo", str(root), "Bar_Baz", "release-ci")
    assert claimed.returncode == 0, claimed.stderr
    assert claimed.stdout == "bar-baz: owners release-ci\n"
    bad = pipwrap(env, "repo", "owner", "add", "--repo", str(root), "bar/baz", "release-ci")
    assert bad.returncode == 2 and "'bar/baz' is not a project name" in bad.stderr, bad.stderr
    ours = make_wheel(tmp_path / "ours", "bar-baz", "2.0", "ours")
    with hosting.pipwrap_serve(root, tmp_path / "log", "--cache", "--fallback", upstream,
                               "--htpasswd", str(_logins(tmp_path)), env=env) as served:
        before = pip_install(env, venv, served.url, tmp_path / "before", "bar-baz==1.9")
        assert installed(tmp_path / "before", "bar_baz") == ("upstream", "1.9"), before.stderr
        other = twine(env, f"{served.base}/", ours, user="alice", password="alice-pw")
        assert other.returncode != 0, other.stdout
        assert "alice is not an owner of bar-baz here" in _joined(other.stdout + other.stderr)
        pushed = twine(env, f"{served.base}/", ours, user="release-ci", password="ci-pw")
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        new = pip_install(env, venv, served.url, tmp_path / "new", "bar-baz==2.0")
        old = pip_install(env, venv, served.url, tmp_path / "old", "bar-baz==1.9")
    assert installed(tmp_path / "new", "bar_baz") == ("ours", "2.0"), new.stderr
    assert installed(tmp_path / "old", "bar_baz") is None
    assert old.returncode != 0 and "No matching distribution" in old.stderr, old.stderr


@pytest.mark.parametrize("down", ["nothing listening", "HTTP 503", "no answer in time"])
def test_an_upstream_that_cannot_answer_refuses_a_first_upload(
        tmp_path: Path, env: dict[str, str], down: str) -> None:
    """Fail closed: with no answer the name may be the upstream's; a name already
    claimed does not ask, and uploads."""
    import contextlib
    import socket
    import time

    acme = make_wheel(tmp_path / "w", "acme-tool", "1.0", "ours")
    with contextlib.ExitStack() as stack:
        if down == "nothing listening":
            url = f"http://127.0.0.1:{free_port()}/simple/"
        elif down == "HTTP 503":
            url = stack.enter_context(_failing(503))
        else:  # connections are taken (the backlog) and never answered
            silent = stack.enter_context(socket.socket())
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            url = f"http://127.0.0.1:{silent.getsockname()[1]}/simple/"
        served = stack.enter_context(hosting.pipwrap_serve(
            tmp_path / "repo", tmp_path / "log", "--cache", "--cache-timeout", "2",
            "--fallback", url, "--htpasswd", str(_logins(tmp_path)), env=env))
        start = time.monotonic()
        refused = twine(env, f"{served.base}/", acme, user="release-ci", password="ci-pw")
        assert time.monotonic() - start < 30  # the cache's deadline, not the client's
        claim = pipwrap(env, "repo", "owner", "add", "--repo", str(tmp_path / "repo"),
                        "acme-tool", "release-ci")
        assert claim.returncode == 0, claim.stderr
        taken = twine(env, f"{served.base}/", acme, user="release-ci", password="ci-pw")
    told = _joined(refused.stdout + refused.stderr)
    assert refused.returncode != 0 and "503" in told, told
    assert "cannot tell whether the upstream serves acme-tool (" in told, told
    assert "pipwrap repo owner add acme-tool release-ci" in told, told
    assert "cannot tell whether the upstream serves acme-tool" in served.log.read_text()
    assert taken.returncode == 0, taken.stdout + taken.stderr


@pytest.mark.parametrize("mode", MODES)
def test_a_new_name_the_upstream_lacks_is_claimed_by_its_first_upload(
        tmp_path: Path, env: dict[str, str], upstream: str, mode: str) -> None:
    acme = make_wheel(tmp_path / "w", "acme-tool", "1.0", "ours")
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", *MODES[mode],
                               "--fallback", upstream, "--htpasswd", str(_logins(tmp_path)),
                               env=env) as served:
        pushed = twine(env, f"{served.base}/", acme, user="release-ci", password="ci-pw")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    listed = pipwrap(env, "repo", "owner", "list", "--repo", str(tmp_path / "repo"))
    assert listed.stdout == "acme-tool  release-ci\n", listed.stderr


def test_without_a_fallback_uploads_ask_no_upstream(tmp_path: Path,
                                                    env: dict[str, str]) -> None:
    """--no-fallback: nothing is answered from an upstream, so a first upload claims
    any name, as before (bar-baz too)."""
    wheel = make_wheel(tmp_path / "w", "bar-baz", "1.9", "ours")
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--no-fallback",
                               "--htpasswd", str(_logins(tmp_path)), env=env) as served:
        pushed = twine(env, f"{served.base}/", wheel, user="release-ci", password="ci-pw")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert (tmp_path / "repo" / "bar-baz" / wheel.name).is_file()


def test_without_logins_a_name_the_upstream_serves_needs_a_claim_too(
        tmp_path: Path, env: dict[str, str], upstream: str) -> None:
    """--auth none: anyone who connects uploads, but never over an upstream's name
    unclaimed (the claim's USER is any name: there are no logins)."""
    wheel = make_wheel(tmp_path / "w", "bar-baz", "2.0", "ours")
    root = tmp_path / "repo"
    with hosting.pipwrap_serve(root, tmp_path / "log", "--fallback", upstream, "--auth",
                               "none", env=env) as served:
        refused = twine(env, f"{served.base}/", wheel)
        claimed = pipwrap(env, "repo", "owner", "add", "--repo", str(root), "bar-baz", "team")
        taken = twine(env, f"{served.base}/", wheel)
    told = _joined(refused.stdout + refused.stderr)
    assert refused.returncode != 0, told
    assert "for this index first: pipwrap repo owner add bar-baz USER" in told, told
    assert claimed.returncode == 0, claimed.stderr
    assert taken.returncode == 0, taken.stdout + taken.stderr
