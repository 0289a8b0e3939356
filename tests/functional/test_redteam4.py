"""Red-team pass 4 (2026-12-06) against red-team 3's fixes: a page's files of another
project dropped by name (fence policy.names_project, mirror.entries_from_page), serve's
refusals that read the body away before answering (upload_route.py), the login lanes
(app.App.login) and the claim guard (permissions.Policy.check_upstream).

Staged as test_redteam3.py does: an upstream serving PEP 691 JSON holds the attacker's
Foo 9.9.9; the team's index holds foo 1.0. Each test first shows the attack succeeding
without pipwrap's protection, then asserts the SAFE outcome through `wrap` or serve: a
strict xfail is an attack that still succeeds (the lead removes the mark with the fix).
"""

from __future__ import annotations

import hashlib
import io
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.functional.test_redteam3 import _plain_pip
from tests.functional.test_sources import _json_upstream, _serve_json
from tests.support.sandbox import Sandbox, installed
from tests.support.wheels import make_wheel

TIMEOUT = 120
ATTACKERS = 48  # clients guessing passwords at once (each waits for its 401)

# An in-tree PEP 517 backend with no build requirements: building needs no index at all
# (pip's isolated build environment installs nothing), and the "build" hands back the
# attacker's ready-made wheel.
_BACKEND = b'''import os, shutil

WHEEL = "foo-9.9.9-py3-none-any.whl"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), WHEEL),
                wheel_directory)
    return WHEEL
'''


def _disguised_sdist(directory: Path, evil: Path, name: str = "helper",
                     version: str = "0.1") -> Path:
    """An sdist whose FILE NAME says ``name`` (it parses as ``name``'s sdist, as pip and
    uv parse it) and whose build makes the evil foo 9.9.9 wheel (metadata name foo)."""
    top = f"{name}-{version}"
    members = {
        f"{top}/PKG-INFO": b"Metadata-Version: 2.1\nName: foo\nVersion: 9.9.9\n\n",
        f"{top}/pyproject.toml": b'[build-system]\nrequires = []\n'
                                 b'build-backend = "backend"\nbackend-path = ["."]\n',
        f"{top}/backend.py": _BACKEND,
        f"{top}/{evil.name}": evil.read_bytes(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{top}.tar.gz"
    with tarfile.open(target, "w:gz") as archive:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return target


def _bare_takes_helper(venv: Path, env: dict[str, str], index: str, target: Path) -> str:
    """Plain pip (no pipwrap) installs helper from ``index``; returns what it printed."""
    bare = _plain_pip(venv, env, index, target, "helper")
    return bare.stdout + bare.stderr


def _wrap_pip(sandbox: Sandbox, profile: str, target: str, *names: str,
              ) -> subprocess.CompletedProcess[str]:
    """`wrap pip install NAMES` under a profile `corp` with these keys."""
    sandbox.write_config(f'default = "corp"\n[profiles.corp]\n{profile}')
    done: subprocess.CompletedProcess[str] = sandbox.sh(
        "bash", f"wrap pip install --no-cache-dir --target {sandbox.home / target} "
                f"{' '.join(names)}; echo status=$?")
    return done


def _carrier_pages(base: Path, direct_base: str, under: str) -> tuple[dict[str, bytes], str]:
    """The upstream: `helper` 1.0 (a wheel) depends on `foo @ <direct_base>...helper-0.1
    .tar.gz`, a file helper's own page lists under a name that reads as helper's, whose
    build makes foo 9.9.9. ``under``: "files" (the upstream's own file URL) or "helper"
    (the team's `serve --cache` URL of it, /simple/helper/<sha>/...)."""
    evil = make_wheel(base / "evil", "Foo", "9.9.9", "evil")
    disguised = _disguised_sdist(base / "sdist", evil)
    sha = hashlib.sha256(disguised.read_bytes()).hexdigest()
    direct = f"{direct_base}/files/{disguised.name}" if under == "files" else \
        f"{direct_base}/simple/helper/{sha}/{disguised.name}"
    helper = make_wheel(base / "w", "helper", "1.0", "upstream",
                        requires_dist=(f"foo @ {direct}",))
    return _json_upstream(base / "upstream", [(disguised, 40 * 86400),
                                              (helper, 40 * 86400)]), direct


# -- 1. A file named as the page's project whose build is another project ----------------

@pytest.mark.xfail(strict=True, reason="redteam4 finding 1: names_project/entries_from_page "
                   "judge a listed file by its NAME; an sdist named helper-0.1.tar.gz builds "
                   "foo 9.9.9, and a direct-URL dependency takes it past foo's rules")
def test_an_sdist_named_for_the_page_but_building_foo_is_not_passed_by_the_fence(
        sandbox: Sandbox, venv: Path, tmp_path: Path) -> None:
    """Red-team 3's carrier, renamed: the first source (a static tree) holds foo 1.0, the
    profile reserves foo, and the fallback (the attacker's upstream) lists on `helper`'s
    page `helper-0.1.tar.gz` (a name that reads as helper's) whose in-tree backend builds
    the evil Foo 9.9.9; helper 1.0 depends on `foo @ <that file's URL>`. pip checks the
    BUILT metadata's name (foo) against the requirement (foo), never the file name. The
    fence passes the file as helper's, so `wrap pip install helper` installs the evil foo
    as plain pip does."""
    from tests.support import static_index
    from tests.support.publishing import client_env

    pages: dict[str, bytes] = {}  # read per request: filled once the server's URL is known
    own = static_index.tree(tmp_path / "first", [make_wheel(tmp_path / "own", "Foo", "1.0",
                                                            "local")])
    env = client_env(tmp_path)
    with _serve_json(tmp_path / "upstream", pages) as upstream, \
            static_index.serve(own) as local_first:
        pages.update(_carrier_pages(tmp_path, upstream.removesuffix("/simple/"), "files")[0])
        direct = f"{upstream.removesuffix('/simple/')}/files/helper-0.1.tar.gz"
        said = _bare_takes_helper(venv, env, upstream, tmp_path / "bare")
        assert installed(tmp_path / "bare") == ("evil", "9.9.9"), said
        done = _wrap_pip(sandbox, f'index-url = "{local_first.url}"\nfallback = '
                                  f'["{upstream}"]\nreserved = ["foo"]\n', "t", "helper")
    out = direct + "\n" + done.stdout + done.stderr
    assert installed(sandbox.home / "t") != ("evil", "9.9.9"), out


@pytest.mark.xfail(strict=True, reason="redteam4 finding 1 (serve side): serve --cache "
                   "serves /simple/helper/<sha>/helper-0.1.tar.gz, which builds foo 9.9.9, "
                   "while the tree holds foo 1.0")
def test_an_sdist_named_for_the_page_but_building_foo_is_not_served_by_the_cache(
        venv: Path, tmp_path: Path) -> None:
    """The same carrier through the team's `serve --cache --fallback UPSTREAM`, which
    holds foo 1.0 (the name the team publishes): plain pip asking the team's index for
    helper gets foo 9.9.9 from serve's own cache URL, under helper's path. test_redteam3
    closed this for a file NAMED foo-9.9.9...whl; the name is all that is checked."""
    from tests.support import hosting
    from tests.support.publishing import client_env, pipwrap
    from tests.support.servers import free_port

    env = client_env(tmp_path)
    repo = tmp_path / "repo"
    assert pipwrap(env, "repo", "add", "--repo", str(repo),
                   str(make_wheel(tmp_path / "own", "Foo", "1.0", "local"))).returncode == 0
    port = free_port()
    pages, direct = _carrier_pages(tmp_path, f"http://127.0.0.1:{port}", "helper")
    with _serve_json(tmp_path / "upstream", pages) as upstream, \
            hosting.pipwrap_serve(repo, tmp_path / "log", "--cache", "--fallback", upstream,
                                  port=port, env=env) as served:
        foo_page = subprocess.run(["curl", "-sS", "--max-time", "20", f"{served.url}foo/"],
                                  capture_output=True, text=True, timeout=TIMEOUT, check=False)
        assert "foo-1.0-py3-none-any.whl" in foo_page.stdout, foo_page  # the team's foo
        said = _bare_takes_helper(venv, env, served.url, tmp_path / "bare")
    assert installed(tmp_path / "bare") != ("evil", "9.9.9"), direct + "\n" + said


# -- 2. A refused upload read away at 1 KiB/s: anyone holds a connection for hours ------

def test_anonymous_refused_uploads_trickling_do_not_starve_readers(tmp_path: Path) -> None:
    """A plain `pipwrap serve --max-connections 2` (uploads off: every upload is refused
    on its headers, no login needed). Two anonymous clients POST with Content-Length 64
    MiB and send ~1.5 KiB/s: serve reads each refused body away under the upload's pace
    (1 KiB/s on average after the header grace), 64 MiB at that pace is ~18 hours. A
    reader's page then waits behind them. Safe: a refused body is read away for a bounded
    time (a few seconds, as nginx's lingering_timeout), then the connection is closed."""
    from tests.support import hosting
    from tests.support.publishing import client_env

    env = client_env(tmp_path)
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--max-connections", "2",
                               "--header-timeout", "2", env=env) as served:
        port = int(served.base.rsplit(":", 1)[1])
        held = []
        for _ in range(2):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: multipart/form-data; boundary=x\r\n"
                         b"Content-Length: 67108864\r\n\r\n")
            held.append(conn)
        started = time.monotonic()
        try:
            # Keep both bodies coming at ~1.5 KiB/s for 10 s (past the 2 s grace), then
            # ask for a page while they still are.
            while time.monotonic() - started < 10:
                _trickle(held)
                time.sleep(0.25)
            page = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                     "--max-time", "5", served.url],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 8
            while page.poll() is None and time.monotonic() < deadline:
                _trickle(held)
                time.sleep(0.25)
            out, err = page.communicate(timeout=10)
        finally:
            for conn in held:
                conn.close()
    assert out == "200", (out, err, served.log.read_text(errors="replace")[-2000:])


def _trickle(held: list[socket.socket]) -> None:
    """A few more body bytes on each connection serve still keeps (one it closed, the
    safe outcome, takes no more)."""
    for conn in list(held):
        try:
            conn.sendall(b"x" * 384)
        except OSError:
            held.remove(conn)
            conn.close()


# -- 3. Login lanes keyed on the name the attacker writes ----------------------------------

def _guess(base: str, user: str) -> None:
    """One wrong password for ``user``; the answer (401) is not needed."""
    import base64
    import contextlib
    import urllib.error
    import urllib.request

    token = base64.b64encode(f"{user}:wrong".encode()).decode()
    request = urllib.request.Request(f"{base}/simple/",
                                     headers={"Authorization": f"Basic {token}"})
    with contextlib.suppress(urllib.error.URLError, OSError):
        urllib.request.urlopen(request, timeout=30).close()


def _first_login_seconds_under_guessing(tmp_path: Path, names: str) -> float:
    """alice's first login (right password) to `serve --htpasswd (bcrypt) --auth read,upload`
    while ATTACKERS clients guess passwords: of one name of their own (``names`` = "mallory"),
    of alice's (``victim``), or of a new name each time (``rotating``)."""
    import itertools
    import threading

    from tests.functional.test_redteam3 import _bcrypt5
    from tests.functional.test_serve_permissions import bcrypt_entry
    from tests.support import hosting
    from tests.support.publishing import client_env

    bcrypt_dir = _bcrypt5()
    logins = tmp_path / "htpasswd"
    logins.write_text(f"alice:{bcrypt_entry(bcrypt_dir, 'right', 10)}\n")
    env = {**client_env(tmp_path), "PYTHONPATH": str(bcrypt_dir)}
    counter = itertools.count()
    stop = threading.Event()

    def name() -> str:
        return {"mallory": "mallory", "victim": "alice"}.get(names, f"m{next(counter)}")

    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--no-fallback",
                               "--htpasswd", str(logins), "--auth", "read,upload",
                               env=env) as served:
        _guess(served.base, name())  # one refusal: a guessed name now has its own lane

        def attacker() -> None:
            while not stop.is_set():
                _guess(served.base, name())

        threads = [threading.Thread(target=attacker, daemon=True) for _ in range(ATTACKERS)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(2)  # the guesses queue up
            done = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-u", "alice:right",
                                   "-w", "%{http_code} %{time_total}", "--max-time", "30",
                                   served.url], capture_output=True, text=True,
                                  timeout=60, check=False)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=40)
    code, seconds = done.stdout.split()
    assert code == "200", done
    return float(seconds)


def test_guesses_of_one_name_do_not_delay_another_users_first_login(tmp_path: Path) -> None:
    """The lanes working: 24 clients guessing mallory's password queue in mallory's lane;
    alice's first login is checked at once in the other."""
    seconds = _first_login_seconds_under_guessing(tmp_path, "mallory")
    assert seconds < 1.0, seconds


@pytest.mark.xfail(strict=True, reason="redteam4 finding 3: App.login keys the lane on the "
                   "name the client writes: guesses under a new name each time (or under "
                   "the victim's own name) sit in the lane real first logins use")
@pytest.mark.parametrize("names", ["rotating", "victim"])
def test_guesses_do_not_delay_a_users_first_login(tmp_path: Path, names: str) -> None:
    """The same 24 guessing clients, choosing the name: a new one for every guess (no name
    is ever 'refused in the last 60 s' when it is checked), or alice's own (her right
    password then waits in the failing lane behind every guess of it). Safe: alice's first
    login answers about as fast as with guesses of one other name (above)."""
    seconds = _first_login_seconds_under_guessing(tmp_path, names)
    assert seconds < 1.0, seconds


# -- 4. The claim guard asks serve's upstream; the clients' profile falls back elsewhere ----

@pytest.mark.xfail(strict=True, reason="redteam4 finding 4: permissions.Policy.check_upstream "
                   "only knows serve's own --fallback/--cache; with --no-fallback (docs: "
                   "'asks nothing') and the profile's fallback = [PyPI], a first upload "
                   "still hides the upstream's name from every wrap")
def test_a_stolen_upload_token_cannot_hide_a_name_the_profiles_fallback_serves(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """Red-team 3's finding 4 on the other common layout: the team's index is `serve
    --no-fallback --htpasswd ... --auth upload` (the team's own projects only) and the
    profile reads it first with `fallback = [PYPI]`, so bar-baz==1.9 comes from the
    upstream. A stolen release-ci token uploads an evil bar-baz 1.9: serve has no upstream
    to ask, takes the first upload, and the fence's "first source that has the name wins"
    now answers bar-baz from the team's index."""
    from tests.support import hosting
    from tests.support.publishing import client_env
    from tests.support.uploads import sha_entry, twine

    env = client_env(tmp_path)
    base = tmp_path / "up"
    pages = _json_upstream(base / "upstream",
                           [(make_wheel(base / "w", "bar-baz", "1.9", "upstream"), 30 * 86400)])
    logins = tmp_path / "htpasswd"
    logins.write_text(f"release-ci:{sha_entry('ci-pw')}\n")
    evil = make_wheel(tmp_path / "evil", "bar-baz", "1.9", "evil")
    with _serve_json(base / "upstream", pages) as upstream, \
            hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--no-fallback",
                                  "--htpasswd", str(logins), "--auth", "upload",
                                  env=env) as served:
        profile = f'index-url = "{served.url}"\nfallback = ["{upstream}"]\n'
        before = _wrap_pip(sandbox, profile, "before", "bar-baz==1.9")
        assert installed(sandbox.home / "before", "bar_baz") == ("upstream", "1.9"), \
            before.stderr
        pushed = twine(env, f"{served.base}/", evil, user="release-ci", password="ci-pw")
        after = _wrap_pip(sandbox, profile, "after", "bar-baz==1.9")
    out = pushed.stdout + pushed.stderr + after.stdout + after.stderr
    assert installed(sandbox.home / "after", "bar_baz") != ("evil", "1.9"), out
