"""Who may publish what on `pipwrap serve` (issue 23, item 2 and its "Who may publish
what" rows), and the logins' smaller rows: read-only logins, project owners, releases
that cannot be shadowed, usernames that timing does not tell, htpasswd edits that apply
line by line, bcrypt's 72 bytes, and a log that says what happened to every upload.

Each test drives `pipwrap serve` as a black box with the real clients (twine, uv publish,
pip); what failed on main is said in each docstring."""

from __future__ import annotations

import base64
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.functional.test_serve_upload import twine  # --verbose: the refusal's body
from tests.support import hosting
from tests.support.publishing import client_env, pip_install, pipwrap
from tests.support.sandbox import installed
from tests.support.servers import free_port
from tests.support.uploads import apr1_entry, sha_entry, upload_sdist, uv_publish
from tests.support.wheels import make_wheel


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return client_env(tmp_path)


def retag(wheel: Path, directory: Path, tags: str) -> Path:
    """The same wheel under other tags (``py311-none-any``, ``1-py3-none-any`` for a build
    tag): what an uploader can send, since nothing ties a wheel's name to its WHEEL file."""
    name, version, _rest = wheel.name.split("-", 2)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}-{version}-{tags}.whl"
    shutil.copyfile(wheel, target)
    return target


@pytest.fixture(scope="session")
def bcrypt5() -> Path:
    """bcrypt >= 5 (which refuses passwords over 72 bytes, where older ones cut them) in a
    directory of its own, for serve's PYTHONPATH: installed in the test venv it breaks
    passlib, hence pypiserver. Fetched once into the tests' cache."""
    from tests.support.pips import CACHE, clean_env

    target = CACHE / "bcrypt-5"
    if not (target / ".ready").exists():
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--upgrade",
                               "--target", str(target), "bcrypt>=5"], env=clean_env(),
                              capture_output=True, text=True, check=False, timeout=300)
        if done.returncode != 0:
            pytest.skip(f"cannot install bcrypt>=5 for serve: {done.stderr.strip()[-300:]}")
        (target / ".ready").write_text("bcrypt>=5\n")
    return target


def bcrypt_entry(bcrypt_dir: Path, password: str, rounds: int) -> str:
    """What `htpasswd -B -C ROUNDS` writes (it hashes 72 bytes of the password)."""
    done = subprocess.run(
        [sys.executable, "-c", "import bcrypt, sys\n"
         "print(bcrypt.hashpw(sys.argv[1].encode()[:72], bcrypt.gensalt(int(sys.argv[2])))"
         ".decode())", password, str(rounds)],
        env={**os.environ, "PYTHONPATH": str(bcrypt_dir)}, capture_output=True, text=True,
        check=True, timeout=60)
    return "$2y$" + done.stdout.strip()[4:]


def logins_file(path: Path, **users: str) -> Path:
    path.write_text("".join(f"{user}:{sha_entry(pw)}\n" for user, pw in users.items()))
    return path


def said(done: subprocess.CompletedProcess[str]) -> str:
    """What a client printed, its line wrapping undone (twine wraps its messages)."""
    return " ".join((done.stdout + done.stderr).split())


def test_a_login_handed_out_for_reading_cannot_publish(tmp_path: Path, env: dict[str, str],
                                                       venv: Path) -> None:
    """With `--auth read,upload` every credential handed out for reading (CI, laptops)
    could publish new versions of any held project and claim any new name (main has no
    way to say otherwise). A permissions file grants upload per login; the others read."""
    logins = logins_file(tmp_path / "htpasswd", ci="ci-pw", laptop="lap-pw")
    rights = tmp_path / "permissions.toml"
    rights.write_text('[users]\nci = "upload"\nlaptop = "read"\n')
    dist = tmp_path / "dist"
    wheel = make_wheel(dist, "team-lib", "1.0", "ci")
    claim = make_wheel(tmp_path / "claim", "new-name", "1.0", "laptop")
    root = tmp_path / "repo"
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback", "--htpasswd",
                               str(logins), "--auth", "read,upload", "--permissions",
                               str(rights), env=env) as served:
        done = twine(env, f"{served.base}/", wheel, user="ci", password="ci-pw")
        assert done.returncode == 0, said(done)
        reader = served.url.replace("http://", "http://laptop:lap-pw@")
        got = pip_install(env, venv, reader, tmp_path / "t1", "team-lib")
        assert installed(tmp_path / "t1", "team_lib") == ("ci", "1.0"), got.stderr
        newer = make_wheel(tmp_path / "newer", "team-lib", "2.0", "laptop")
        for file in (newer, claim):
            done = twine(env, f"{served.base}/", file, user="laptop", password="lap-pw")
            assert done.returncode != 0 and "403" in said(done), said(done)
            assert "may read but not upload" in said(done)
            done = uv_publish(env, f"{served.base}/legacy/", file, user="laptop",
                              password="lap-pw")
            assert done.returncode != 0 and "403" in done.stderr, done.stderr
            assert "may read but not upload" in said(done)  # uv prints the body
        assert not (root / "new-name").exists()
        assert not list((root / "team-lib").glob("*2.0*"))
        assert "upload refused (403)" in served.log_text()
        # Rights are re-read when the file changes: grant, then a broken edit grants none.
        rights.write_text('[users]\nci = "upload"\nlaptop = "upload"\n')
        later = time.time() + 5
        os.utime(rights, (later, later))
        done = twine(env, f"{served.base}/", claim, user="laptop", password="lap-pw")
        assert done.returncode == 0, said(done)
        rights.write_text('[users\nci = "upload"\n')
        os.utime(rights, (later + 5, later + 5))
        other = make_wheel(tmp_path / "other", "team-lib", "3.0", "ci")
        done = twine(env, f"{served.base}/", other, user="ci", password="ci-pw")
        assert done.returncode != 0 and "403" in said(done), said(done)
        assert "no login may upload until it is fixed" in served.log_text()
    bad = pipwrap(env, "serve", "--repo", str(root), "--permissions", str(rights))
    assert bad.returncode == 2 and "needs --htpasswd" in bad.stderr
    # A permissions file serve cannot read stops it at start-up, naming the file.
    rights.write_text('[users]\nci = "admin"\n')
    bad = pipwrap(env, "serve", "--repo", str(root), "--htpasswd", str(logins),
                  "--permissions", str(rights))
    assert bad.returncode == 2 and f"--permissions {rights}" in bad.stderr, bad.stderr
    assert 'expected "read" or "upload"' in bad.stderr and "Traceback" not in bad.stderr


def test_only_a_projects_owners_may_upload_to_it(tmp_path: Path, env: dict[str, str]) -> None:
    """On main any login could publish a new version of any held project. Now the first
    uploader owns a project; others are refused until an owner is added; a project added
    with `repo add` takes no upload until the operator gives it an owner."""
    logins = logins_file(tmp_path / "htpasswd", alice="a-pw", bob="b-pw")
    root = tmp_path / "repo"
    operator = make_wheel(tmp_path / "op", "by-hand", "1.0", "operator")
    assert pipwrap(env, "repo", "add", "--repo", str(root), str(operator)).returncode == 0
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback", "--htpasswd",
                               str(logins), env=env) as served:
        url = f"{served.base}/"
        first = make_wheel(tmp_path / "a1", "Alice.Lib", "1.0", "alice")
        assert twine(env, url, first, user="alice", password="a-pw").returncode == 0
        sdist = upload_sdist(tmp_path / "a1", "Alice.Lib", "1.0")  # joins her release
        assert twine(env, url, sdist, user="alice", password="a-pw").returncode == 0
        intruder = make_wheel(tmp_path / "b1", "alice-lib", "1.1", "bob")
        done = twine(env, url, intruder, user="bob", password="b-pw")
        assert done.returncode != 0 and "403" in said(done), said(done)
        assert "not an owner of alice-lib" in said(done)
        done = uv_publish(env, f"{served.base}/legacy/", intruder, user="bob", password="b-pw")
        assert done.returncode != 0 and "403" in done.stderr, done.stderr
        done = twine(env, url, make_wheel(tmp_path / "b2", "by-hand", "2.0", "bob"),
                     user="bob", password="b-pw")
        assert done.returncode != 0 and "has no owner yet" in said(done), said(done)
        assert "pipwrap repo owner add by-hand bob" in said(done)
        # bob claims a name of his own; alice may not upload there.
        assert twine(env, url, make_wheel(tmp_path / "b3", "bobs", "1.0", "bob"),
                     user="bob", password="b-pw").returncode == 0
        assert twine(env, url, make_wheel(tmp_path / "a2", "bobs", "1.1", "alice"),
                     user="alice", password="a-pw").returncode != 0
        listed = pipwrap(env, "repo", "owner", "list", "--repo", str(root))
        assert listed.stdout.splitlines() == ["alice-lib  alice", "bobs  bob"], listed.stdout
        assert pipwrap(env, "repo", "owner", "add", "--repo", str(root), "Alice_Lib",
                       "bob").returncode == 0
        assert pipwrap(env, "repo", "owner", "add", "--repo", str(root), "by-hand",
                       "bob").returncode == 0
        assert twine(env, url, intruder, user="bob", password="b-pw").returncode == 0
        assert twine(env, url, make_wheel(tmp_path / "b2", "by-hand", "2.0", "bob"),
                     user="bob", password="b-pw").returncode == 0
        assert pipwrap(env, "repo", "owner", "remove", "--repo", str(root), "alice-lib",
                       "bob").returncode == 0
        done = twine(env, url, make_wheel(tmp_path / "b4", "alice-lib", "1.2", "bob"),
                     user="bob", password="b-pw")
        assert done.returncode != 0 and "403" in said(done)
    # A name not held here is claimed (for a name the upstream serves, see
    # test_serve_upstream_names.py); a path is no name.
    claimed = pipwrap(env, "repo", "owner", "add", "--repo", str(root), "nothing", "bob")
    assert claimed.returncode == 0 and claimed.stdout == "nothing: owners bob\n", claimed.stderr
    bad = pipwrap(env, "repo", "owner", "add", "--repo", str(root), "../etc", "bob")
    assert bad.returncode == 2 and "'../etc' is not a project name" in bad.stderr, bad.stderr


def test_a_published_release_cannot_be_shadowed(tmp_path: Path, env: dict[str, str],
                                                venv: Path) -> None:
    """On main an upload of `Foo-1.0-1-py3-none-any.whl` (a build tag) or a `py311` wheel
    joined release 1.0, and pip installed it for `foo==1.0`. Even its owner cannot do that
    now; files that cannot outrank one already there still join (an sdist, another
    interpreter's or platform's wheel, a pure wheel beside platform wheels)."""
    root = tmp_path / "repo"
    good = make_wheel(tmp_path / "good", "Foo", "1.0", "local")
    evil = make_wheel(tmp_path / "evil", "Foo", "1.0", "evil")
    attacks = [retag(evil, tmp_path / "b", "1-py3-none-any"),
               retag(evil, tmp_path / "p", "py311-none-any"),
               retag(evil, tmp_path / "c", "cp311-none-any")]
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback", "--auth", "none",
                               env=env) as served:
        url = f"{served.base}/"
        assert twine(env, url, good).returncode == 0
        for attack in attacks:
            done = twine(env, url, attack)
            assert done.returncode != 0 and "400" in said(done), (attack.name, said(done))
            assert "build tag" in said(done) or "could choose this file over it" in said(done)
        done = uv_publish(env, f"{served.base}/legacy/", attacks[1])
        assert done.returncode != 0 and "400" in done.stderr, done.stderr
        got = pip_install(env, venv, served.url, tmp_path / "t", "foo==1.0")
        assert installed(tmp_path / "t") == ("local", "1.0"), got.stderr
        # What cannot outrank a published file still joins its release.
        assert twine(env, url, upload_sdist(tmp_path / "s", "Foo", "1.0")).returncode == 0
        native = make_wheel(tmp_path / "n", "native", "2.0", "local")
        for tags in ("cp311-cp311-manylinux_2_17_x86_64", "cp312-cp312-manylinux_2_17_x86_64",
                     "cp311-cp311-win_amd64", "cp311-cp311-macosx_11_0_arm64",
                     "py3-none-any"):
            done = twine(env, url, retag(native, tmp_path / tags, tags))
            assert done.returncode == 0, (tags, said(done))
        # ... but not a second platform wheel a machine could choose over the first.
        done = twine(env, url, retag(native, tmp_path / "u2", "cp311-cp311-macosx_11_0_universal2"))
        assert done.returncode != 0 and "400" in said(done), said(done)
        # The same bytes again stay a no-op (twine re-runs), even where a rule applies.
        assert twine(env, url, good).returncode == 0


def _serve_quietly(root: Path, log: Path, env: dict[str, str], *extra: str
                   ) -> tuple[subprocess.Popen[bytes], str]:
    """`pipwrap serve` as an operator runs it: without -v."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "pipwrap", "serve", "--repo",
                                    str(root), "--port", str(port), *extra],
                                   stdout=sink, stderr=sink, env=env)
    base = f"http://127.0.0.1:{port}"
    hosting.wait_for(f"{base}/simple/", process)
    return process, base


def test_every_upload_is_logged_for_what_it_did_without_v(tmp_path: Path,
                                                          env: dict[str, str]) -> None:
    """On main a refused login (401) or a read-only login left no line without -v, and
    the same bytes sent again were logged as "uploaded"."""
    logins = logins_file(tmp_path / "htpasswd", ci="ci-pw")
    wheel = make_wheel(tmp_path / "dist", "logged", "1.0", "local")
    log = tmp_path / "log"
    process, base = _serve_quietly(tmp_path / "repo", log, env, "--no-fallback",
                                   "--htpasswd", str(logins))
    try:
        assert twine(env, f"{base}/", wheel, user="ci", password="wrong").returncode != 0
        assert twine(env, f"{base}/", wheel, user="ci", password="ci-pw").returncode == 0
        assert twine(env, f"{base}/", wheel, user="ci", password="ci-pw").returncode == 0
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = log.read_text()
    assert "upload refused (401)" in text, text
    assert text.count("uploaded logged/logged-1.0-py3-none-any.whl by ci") == 1, text
    assert "logged/logged-1.0-py3-none-any.whl by ci: already present" in text, text


def _refusal_seconds(base: str, user: str, password: str) -> float:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(f"{base}/simple/", headers={"Authorization":
                                                                f"Basic {token}"})
    start = time.perf_counter()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401
    return time.perf_counter() - start


def refusal_time_ratio(logins: Path, env: dict[str, str], bcrypt_dir: Path, slower: str,
                       faster: str) -> tuple[float, float, float]:
    """(median 401 time of ``slower`` / that of ``faster``, the two medians): wrong
    passwords for two names, interleaved so that load on the machine hits both alike."""
    with hosting.pipwrap_serve(logins.parent / "repo", logins.parent / "log", "--no-fallback",
                               "--htpasswd", str(logins), "--auth", "read,upload",
                               env={**env, "PYTHONPATH": str(bcrypt_dir)}) as served:
        times: dict[str, list[float]] = {slower: [], faster: []}
        for _ in range(9):
            for user in times:
                times[user].append(_refusal_seconds(served.base, user, "wrong"))
    slow, fast = statistics.median(times[slower]), statistics.median(times[faster])
    return slow / fast, slow, fast


def test_a_known_users_401_takes_as_long_as_an_unknown_ones(tmp_path: Path,
                                                            env: dict[str, str],
                                                            bcrypt5: Path) -> None:
    """On main a known user's wrong password took 400x longer than an unknown user's with
    bcrypt (8x with $apr1$, too little over HTTP here to stage): the login names could be
    read off the clock. An unknown name is now checked against the slowest entry."""
    logins = tmp_path / "htpasswd"
    logins.write_text(f"ci:{apr1_entry('other')}\n"
                      f"alice:{bcrypt_entry(bcrypt5, 'right', 10)}\n")
    ratio, known, unknown = refusal_time_ratio(logins, env, bcrypt5, "alice", "mallory")
    assert ratio < 2, (known, unknown)


def test_an_htpasswd_edit_applies_line_by_line_and_a_bom_is_no_name(
    tmp_path: Path, env: dict[str, str], venv: Path
) -> None:
    """On main an edit that removed bob and had one line serve cannot read kept the whole
    old file (bob still logged in); a file saved with a byte order mark locked its first
    user out."""
    logins = tmp_path / "htpasswd"
    logins.write_bytes(b"\xef\xbb\xbf" + f"alice:{sha_entry('a-pw')}\n"
                       f"bob:{sha_entry('b-pw')}\n".encode())
    root = tmp_path / "repo"
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback", "--htpasswd",
                               str(logins), "--auth", "read,upload", env=env) as served:
        def reads(user: str, password: str, target: str) -> bool:
            url = served.url.replace("http://", f"http://{user}:{password}@")
            pip_install(env, venv, url, tmp_path / target, "pip-probe")
            return (tmp_path / target / "pip_probe").is_dir()

        assert twine(env, f"{served.base}/", make_wheel(tmp_path / "d", "pip-probe", "1.0",
                                                        "x"),
                     user="alice", password="a-pw").returncode == 0
        assert reads("bob", "b-pw", "t1")
        logins.write_text(f"alice:{sha_entry('a-pw')}\ncarol:plain-text-by-mistake\n")
        later = time.time() + 5
        os.utime(logins, (later, later))
        assert not reads("bob", "b-pw", "t2")
        assert reads("alice", "a-pw", "t3")
        assert "line 2" in served.log_text() and "that line is ignored" in served.log_text()


def test_bcrypt_takes_passwords_longer_than_72_bytes_as_htpasswd_does(
    tmp_path: Path, env: dict[str, str], bcrypt5: Path
) -> None:
    """htpasswd -B, Apache and nginx read 72 bytes of a password and ignore the rest; the
    bcrypt package refuses longer ones, and on main such a login never worked."""
    password = "correct horse battery staple " * 4  # 116 bytes, as a passphrase may be
    logins = tmp_path / "htpasswd"
    logins.write_text(f"ci:{bcrypt_entry(bcrypt5, password, 5)}\n")
    wheel = make_wheel(tmp_path / "dist", "long-pw", "1.0", "local")
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--no-fallback",
                               "--htpasswd", str(logins),
                               env={**env, "PYTHONPATH": str(bcrypt5)}) as served:
        done = twine(env, f"{served.base}/", wheel, user="ci", password=password)
        assert done.returncode == 0, said(done)
        done = twine(env, f"{served.base}/", make_wheel(tmp_path / "d2", "long-pw", "1.1", "x"),
                     user="ci", password="wrong" + password[5:72])
        assert done.returncode != 0 and "401" in said(done)
