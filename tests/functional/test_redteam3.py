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

from tests.functional.test_sources import _json_upstream, _serve_json, evil_upstream
from tests.support.sandbox import Sandbox, installed
from tests.support.wheels import make_wheel

TIMEOUT = 120


@dataclass
class Staged:
    upstream: str


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staged]:
    with evil_upstream(tmp_path_factory.mktemp("redteam3")) as upstream:
        yield Staged(upstream)


def _plain_pip(venv: Path, env: dict[str, str], index: str, target: Path,
               *names: str) -> subprocess.CompletedProcess[str]:
    """pip without pipwrap: the baseline a test compares `wrap` with."""
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                           "--no-cache-dir", "--index-url", index, "--target", str(target),
                           *names], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


# -- 1. `reserved` without `fallback`: the X-Pipwrap-Origin mark is never read -------------

@pytest.mark.parametrize("first", ["serve --cache", "serve --fallback (303)"])
def test_a_reserved_name_behind_a_local_first_index_with_no_profile_fallback(
        sandbox: Sandbox, staged: Staged, venv: Path, tmp_path: Path, first: str) -> None:
    """The team's index is `pipwrap serve --cache --fallback PYPI` (or `--fallback` alone),
    the only source the profile names; the user reserves foo. hosting-team.md: a cached
    page "carries X-Pipwrap-Origin: upstream ... so a profile's reserved names are refused
    through it unless the tree holds them"; reference.md: a reserved name the first source
    does not have "is refused". `pipwrap explain foo` says refused; `wrap` installs it."""
    from tests.support import hosting
    from tests.support.publishing import client_env

    env = client_env(tmp_path)
    mode = ("--cache",) if first == "serve --cache" else ()
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", *mode,
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
    assert "'foo' is reserved" in told.stdout, out  # explain already says the safe thing
    assert installed(target) is None, out
    assert "'foo' is reserved" in done.stderr, out


def test_the_same_reserved_name_is_refused_once_the_fence_composes(
        sandbox: Sandbox, staged: Staged, tmp_path: Path) -> None:
    """The cause of the xfail above, shown: the same profile with any `cooldown` (which
    makes the fence compose the pages itself) refuses foo, naming the mark."""
    from tests.support import hosting
    from tests.support.publishing import client_env

    env = client_env(tmp_path)
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--cache",
                               "--fallback", staged.upstream, env=env) as served:
        sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                             f'index-url = "{served.url}"\nreserved = ["foo"]\n'
                             'cooldown = "1 hours"\n')
        target = sandbox.home / "t"
        done = sandbox.sh("bash", f"wrap pip install --no-cache-dir --target {target} foo; "
                                  "echo status=$?")
    assert installed(target) is None, done.stdout + done.stderr
    assert "X-Pipwrap-Origin: upstream" in done.stderr, done.stdout + done.stderr


# -- 2. A held (and reserved) name's evil file, listed on ANOTHER project's cached page -----

def _upstream_with_a_carrier(base: Path, index_base: str, under: str,
                             ) -> tuple[dict[str, bytes], str]:
    """An upstream whose `helper` page also lists the evil foo-9.9.9 wheel (an upstream
    writes its own pages), and whose helper 1.0 depends on that file as served by the
    team's `serve --cache` (the attacker knows the team's index URL and the wheel's hash).
    Returns (pages, the direct URL)."""
    import hashlib
    import json

    evil = make_wheel(base / "w", "Foo", "9.9.9", "evil")
    sha = hashlib.sha256(evil.read_bytes()).hexdigest()
    direct = f"{index_base}/files/{evil.name}" if under == "files" else \
        f"{index_base}/simple/{under}/{sha}/{evil.name}"
    helper = make_wheel(base / "w", "helper", "1.0", "upstream",
                        requires_dist=(f"foo @ {direct}",))
    pages = _json_upstream(base / "upstream", [(evil, 40 * 86400), (helper, 40 * 86400)])
    if under != "foo":
        page = json.loads(pages["helper"])
        page["files"] += json.loads(pages["foo"])["files"]
        pages["helper"] = json.dumps(page).encode()
    return pages, direct


def test_a_held_reserved_names_evil_file_listed_on_another_projects_cached_page(
        sandbox: Sandbox, venv: Path, tmp_path: Path) -> None:
    """The team holds foo 1.0 in `serve --cache`'s tree (never asked upstream, its cached
    files 404) and the profile reserves foo, with the upstream as its fallback. The
    attacker's upstream `helper` (a name the team takes from PyPI) lists the evil foo
    wheel on its own page and depends on `foo @ <team index>/simple/helper/<sha>/foo-9.9.9
    -py3-none-any.whl`. Fixed in serve (mirror.entries_from_page keeps only the page's own
    project's files: plain pip gets a 404 too) and in the fence (below)."""
    from tests.support.publishing import client_env, pipwrap

    env = client_env(tmp_path)
    repo = tmp_path / "repo"
    assert pipwrap(env, "repo", "add", "--repo", str(repo),
                   str(make_wheel(tmp_path / "own", "Foo", "1.0", "local"))).returncode == 0
    direct, done = _carrier_through_wrap(sandbox, venv, tmp_path, env, repo, under="helper",
                                         bare_gets_evil=False)
    assert installed(sandbox.home / "t") != ("evil", "9.9.9"), \
        direct + "\n" + done.stdout + done.stderr


def _carrier_through_wrap(sandbox: Sandbox, venv: Path, tmp_path: Path, env: dict[str, str],
                          repo: Path, under: str, bare_gets_evil: bool = True,
                          ) -> tuple[str, subprocess.CompletedProcess[str]]:
    """`serve --cache` over the carrier upstream: plain pip installs helper and with it
    the evil foo (``bare_gets_evil``; serve no longer serves another project's file under
    helper's path); then `wrap pip install helper` under a profile reserving foo, with the
    upstream as fallback. Returns (the direct URL, wrap's run)."""
    from tests.support import hosting
    from tests.support.servers import free_port

    port = free_port()
    pages, direct = _upstream_with_a_carrier(tmp_path, f"http://127.0.0.1:{port}", under)
    with _serve_json(tmp_path / "upstream", pages) as upstream, \
            hosting.pipwrap_serve(repo, tmp_path / "log", "--cache", "--fallback", upstream,
                                  port=port, env=env) as served:
        bare = _plain_pip(venv, env, served.url, tmp_path / "bare", "helper")
        assert (installed(tmp_path / "bare") == ("evil", "9.9.9")) is bare_gets_evil, \
            bare.stdout + bare.stderr
        sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                             f'index-url = "{served.url}"\nfallback = ["{upstream}"]\n'
                             'reserved = ["foo"]\n')
        done: subprocess.CompletedProcess[str] = sandbox.sh(
            "bash", f"wrap pip install --no-cache-dir --target {sandbox.home / 't'} helper; "
                    "echo status=$?")
    return direct, done


def test_another_projects_file_on_a_fallback_page_is_not_passed_by_the_fence(
        sandbox: Sandbox, venv: Path, tmp_path: Path) -> None:
    """The fence's side, with no serve in between: the first source (a static tree) holds
    foo 1.0, the profile reserves foo, and the fallback (the attacker's upstream) lists
    the evil foo wheel on its `helper` page, helper depending on `foo @ <fallback's file
    URL>`. Plain pip from the fallback installs it; through `wrap` the fence leaves the
    file off helper's page, reads foo's page as a client would (the first source's), and
    refuses the file."""
    from tests.support import static_index
    from tests.support.publishing import client_env

    first = static_index.tree(tmp_path / "first",
                              [make_wheel(tmp_path / "own", "Foo", "1.0", "local")])
    env = client_env(tmp_path)
    pages: dict[str, bytes] = {}  # read per request: filled once the server's URL is known
    with static_index.serve(first) as local_first, \
            _serve_json(tmp_path / "upstream", pages) as upstream:
        built, direct = _upstream_with_a_carrier(tmp_path, upstream.removesuffix("/simple/"),
                                                 under="files")
        pages.update(built)
        bare = _plain_pip(venv, env, upstream, tmp_path / "bare", "helper")
        assert installed(tmp_path / "bare") == ("evil", "9.9.9"), bare.stdout + bare.stderr
        sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                             f'index-url = "{local_first.url}"\n'
                             f'fallback = ["{upstream}"]\nreserved = ["foo"]\n')
        done = sandbox.sh("bash", f"wrap pip install --no-cache-dir --target "
                                  f"{sandbox.home / 't'} helper; echo status=$?")
    out = direct + "\n" + done.stdout + done.stderr
    assert installed(sandbox.home / "t") is None, out
    assert "status=1" in done.stdout, out


# -- 3. `pipwrap env` sessions: a change that keeps the config's mtime ----------------------

def test_an_env_session_survives_a_tightening_that_keeps_the_mtime(
        sandbox: Sandbox, staged: Staged, tmp_path: Path) -> None:
    """`eval "$(pipwrap env --reveal)"`; the team then adds `reserved = ["foo"]` and the
    file is put back with its old time (a config deployed with `rsync -a`/`cp -p` from a
    copy made earlier, `touch -r`): the session still hands out the fallback's Foo 9.9.9.
    Without the mtime kept, the same session refuses (test_redteam_today.py)."""
    from tests.support import static_index

    first = static_index.tree(tmp_path / "first", [make_wheel(tmp_path / "w1", "bar-baz",
                                                              "1.0", "local")])
    with static_index.serve(first, fallback=staged.upstream) as local_first:
        sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                             f'index-url = "{local_first.url}"\n'
                             f'fallback = ["{staged.upstream}"]\n')
        home = sandbox.home
        done = sandbox.sh("bash", "".join([
            f"touch -d '2026-01-01 00:00:00' {sandbox.config}\n",
            'eval "$(pipwrap env --reveal)"\n',
            f"cp -p {sandbox.config} {home}/stamp\n",
            f"printf 'reserved = [\"foo\"]\\n' >> {sandbox.config}\n",
            f"touch -r {home}/stamp {sandbox.config}\n",
            "sleep 0.3\n",  # past the session's 0.1 s re-check
            f"pip install --no-cache-dir --target {home}/t foo; echo status=$?\n",
            "pipwrap explain foo; echo explained=$?\n",
        ]), how="plain")
    out = done.stdout + done.stderr
    assert "'foo' is reserved" in out, out  # the config now says so (explain reads it)
    assert installed(home / "t") is None, out


def test_a_cached_file_url_of_a_reserved_name_asked_directly_is_refused(
        sandbox: Sandbox, venv: Path, tmp_path: Path) -> None:
    """Pipwrap holds: the team's `serve --cache` does not hold foo, the profile reserves it
    (with the upstream as fallback, so the fence composes). The upstream's helper depends
    on `foo @ <team index>/simple/foo/<sha>/foo-9.9.9-py3-none-any.whl`, the cache's own
    URL for the evil file: plain pip takes it; through `wrap` the fence, seeing a file no
    page it served lists, reads foo's page as a client would, finds the name reserved and
    marked upstream, and refuses the file."""
    from tests.support.publishing import client_env

    direct, done = _carrier_through_wrap(sandbox, venv, tmp_path, client_env(tmp_path),
                                         tmp_path / "repo", under="foo")
    out = direct + "\n" + done.stdout + done.stderr
    assert installed(sandbox.home / "t") is None, out
    assert "'foo' is reserved (pattern 'foo')" in done.stderr, out
    assert "status=1" in done.stdout, out


# -- 4. An upload token claims a name the team takes from the upstream --------------------

def test_a_stolen_upload_token_cannot_change_a_pin_of_a_name_taken_from_upstream(
        sandbox: Sandbox, staged: Staged, tmp_path: Path) -> None:
    """The team's `serve --cache --fallback PYPI --htpasswd ... --auth upload`; its CI
    login `release-ci` publishes the team's own project (acme-tool). Everyone installs
    `bar-baz==1.9` (a PyPI project) through it. A stolen release-ci token uploads an
    evil bar-baz 1.9: first upload of a name the tree does not hold, so it is claimed."""
    from tests.support import hosting
    from tests.support.publishing import client_env
    from tests.support.uploads import sha_entry, twine

    env = client_env(tmp_path)
    logins = tmp_path / "htpasswd"
    logins.write_text(f"release-ci:{sha_entry('ci-pw')}\n")
    evil = make_wheel(tmp_path / "evil", "bar-baz", "1.9", "evil")
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--cache", "--fallback",
                               staged.upstream, "--htpasswd", str(logins), "--auth", "upload",
                               env=env) as served:
        sandbox.write_config(f'default = "team"\n[profiles.team]\nindex-url = "{served.url}"\n')
        home = sandbox.home
        before = sandbox.sh("bash", f"wrap pip install --no-cache-dir --target {home}/before "
                                    "bar-baz==1.9; echo status=$?")
        assert installed(home / "before", "bar_baz") == ("upstream", "1.9"), before.stderr
        pushed = twine(env, f"{served.base}/", evil, user="release-ci", password="ci-pw")
        after = sandbox.sh("bash", f"wrap pip install --no-cache-dir --target {home}/after "
                                   "bar-baz==1.9; echo status=$?")
    out = pushed.stdout + pushed.stderr + after.stdout + after.stderr
    assert installed(home / "after", "bar_baz") != ("evil", "1.9"), out


# -- 5. Login names told apart by time when the file mixes hash kinds ---------------------

def test_a_fast_hashed_login_name_is_not_told_apart_by_time(tmp_path: Path) -> None:
    """test_serve_permissions.py holds it for a bcrypt name against an unknown one; the
    other direction: `ci` ({SHA}) against `mallory` (absent), beside `alice` (bcrypt)."""
    from tests.functional.test_serve_permissions import bcrypt_entry, refusal_time_ratio
    from tests.support.publishing import client_env
    from tests.support.uploads import sha_entry

    bcrypt_dir = _bcrypt5()
    logins = tmp_path / "htpasswd"
    logins.write_text(f"ci:{sha_entry('ci-token')}\n"
                      f"alice:{bcrypt_entry(bcrypt_dir, 'right', 10)}\n")
    ratio, unknown, known = refusal_time_ratio(logins, client_env(tmp_path), bcrypt_dir,
                                               "mallory", "ci")
    assert ratio < 2, (known, unknown)


def _bcrypt5() -> Path:
    """test_serve_permissions.py's bcrypt>=5 directory (its fixture, called as a function:
    the same cache)."""
    from tests.functional import test_serve_permissions

    fixture = test_serve_permissions.bcrypt5
    made: Path = getattr(fixture, "__wrapped__", fixture)()
    return made


# -- rt3 item 4: a page request spelling a reserved name with percent-escapes ---------------

def test_a_percent_escaped_reserved_name_is_decided_as_the_server_reads_it(
        sandbox: Sandbox, staged: Staged, tmp_path: Path) -> None:
    """`serve --fallback` decodes `/simple/%66oo/` to foo and sends it to the upstream's
    evil Foo 9.9.9 (curl shows it); through a `pipwrap env` session whose profile reserves
    foo, the fence decides the same request on foo, not on "%66oo", and refuses it."""
    from tests.support import hosting
    from tests.support.publishing import client_env

    env = client_env(tmp_path)
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--fallback",
                               staged.upstream, env=env) as served:
        plain = subprocess.run(["curl", "-sS", "-L", "--max-time", "30", f"{served.url}%66oo/"],
                               capture_output=True, text=True, timeout=TIMEOUT, check=False)
        assert "-9.9.9-" in plain.stdout, plain
        sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                             f'index-url = "{served.url}"\nreserved = ["foo"]\n')
        done = sandbox.sh("bash", 'eval "$(pipwrap env --reveal)"\n'
                                  'curl -sS "${PIP_INDEX_URL}%66oo/"; echo\n', how="plain")
    out = done.stdout + done.stderr
    assert "9.9.9" not in out, out
    assert "'foo' is reserved" in out, out
