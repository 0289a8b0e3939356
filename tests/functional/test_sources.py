"""A profile with several sources, reserved names and a cooldown (issue 24), through `wrap`.

Staged as the issue says: the first source is a static tree served by `python -m
http.server` (no fallback logic of its own) holding Foo 1.0; the upstream serves PEP 691
JSON with upload times and relative file URLs, holding an evil Foo 9.9.9, bar-baz 1.9 (30
days old) and 2.0 (an hour old), and an evil acme-tool. Without pipwrap,
`--extra-index-url` installs the evil 9.9.9; through `wrap`, pip and uv get Foo 1.0 and
bar-baz 1.9, acme-tool is refused with the rule named, and a first source that is stopped
or answers 500 gives nothing from the fallback.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.server
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import static_index
from tests.support.fenced import FENCE, download, pip_bin, python_c
from tests.support.sandbox import Sandbox, installed, write_file
from tests.support.servers import free_port, serving
from tests.support.sources import thread_server
from tests.support.wheels import make_wheel

NOW = time.time()


def _stamp(age_seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(NOW - age_seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_upstream(root: Path, wheels: list[tuple[Path, float]]) -> dict[str, bytes]:
    """Project name -> its PEP 691 page; file URLs are relative (``../../files/X``), so a
    fence that resolved them against the first source would send the client there."""
    pages: dict[str, dict[str, object]] = {}
    (root / "files").mkdir(parents=True, exist_ok=True)
    for wheel, age in wheels:
        data = wheel.read_bytes()
        (root / "files" / wheel.name).write_bytes(data)
        name = static_index.normalize(wheel.name.split("-")[0])
        page = pages.setdefault(name, {"meta": {"api-version": "1.1"}, "name": name,
                                       "versions": [], "files": []})
        page["files"].append({  # type: ignore[attr-defined]
            "filename": wheel.name, "url": f"../../files/{wheel.name}",
            "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
            "upload-time": _stamp(age), "size": len(data)})
    return {name: json.dumps(page).encode() for name, page in pages.items()}


@contextlib.contextmanager
def _serve_json(root: Path, pages: dict[str, bytes], login: str | None = None,
                asked: list[str] | None = None) -> Iterator[str]:
    """``login``: "user:password" every request must carry (HTTP Basic); ``asked``: gets
    each request's path."""
    import base64

    wanted = f"Basic {base64.b64encode(login.encode()).decode()}" if login else None

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if asked is not None:
                asked.append(self.path)
            if wanted is not None and self.headers.get("Authorization") != wanted:
                self.send_error(401)
                return
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "simple" and parts[1] in pages:
                body, kind = pages[parts[1]], "application/vnd.pypi.simple.v1+json"
            elif len(parts) == 2 and parts[0] == "files" and (root / "files" / parts[1]).is_file():
                body, kind = (root / "files" / parts[1]).read_bytes(), "application/octet-stream"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)

        do_HEAD = do_GET  # uv asks a file's HEAD first

        def log_message(self, *args: object) -> None:
            pass

    with _threaded(Handler) as url:
        yield url


@contextlib.contextmanager
def evil_upstream(base: Path) -> Iterator[str]:
    """The attacker's upstream the red-team tests stage against: the evil Foo 9.9.9 (40
    days old) and a dependency, bar-baz 1.9 (30 days), as PEP 691 pages under ``base``;
    yields its /simple/ URL."""
    pages = _json_upstream(base / "upstream", [
        (make_wheel(base / "w", "Foo", "9.9.9", "evil"), 40 * 86400),
        (make_wheel(base / "w", "bar-baz", "1.9", "upstream"), 30 * 86400)])
    with _serve_json(base / "upstream", pages) as upstream:
        yield upstream


@contextlib.contextmanager
def _threaded(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    with thread_server(handler) as base:
        yield f"{base}/simple/"


@contextlib.contextmanager
def _failing(status: int) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(status)

        def log_message(self, *args: object) -> None:
            pass

    with _threaded(Handler) as url:
        yield url


@contextlib.contextmanager
def _http_server(directory: Path) -> Iterator[str]:
    """`python -m http.server` over a static tree, as a team without a server runs one."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/simple/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Staged:
    first: str
    upstream: str
    broken: str      # a first source answering 500
    stopped: str     # a first source nobody listens on
    fresh_file: str  # bar-baz 2.0's file on the upstream (hidden by the cooldown)
    old_file: str    # bar-baz 1.9's


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staged]:
    base = tmp_path_factory.mktemp("sources")
    first = static_index.tree(base / "first", [make_wheel(base / "w1", "Foo", "1.0", "local")])
    wheels = [(make_wheel(base / "w2", "Foo", "9.9.9", "evil"), 40 * 86400),
              (make_wheel(base / "w2", "bar-baz", "1.9", "upstream"), 30 * 86400),
              (make_wheel(base / "w2", "bar-baz", "2.0", "upstream"), 3600),
              (make_wheel(base / "w2", "acme-tool", "1.0", "evil"), 40 * 86400)]
    pages = _json_upstream(base / "upstream", wheels)
    with _http_server(first) as first_url, _serve_json(base / "upstream", pages) as upstream, \
            _failing(500) as broken:
        files = upstream.replace("/simple/", "/files/")
        yield Staged(first_url, upstream, broken, f"http://127.0.0.1:{free_port()}/simple/",
                     files + "bar_baz-2.0-py3-none-any.whl",
                     files + "bar_baz-1.9-py3-none-any.whl")


def _profile(sandbox: Sandbox, first: str, upstream: str) -> None:
    sandbox.write_config(
        'default = "corp"\n[profiles.corp]\n'
        f'index-url = "{first}"\nfallback = ["{upstream}"]\n'
        'reserved = ["acme-*"]\ncooldown = "7 days"\n')


def _install(installer: str, target: Path, venv: Path, *names: str) -> str:
    if installer.startswith("pip"):
        pip = "pip" if installer == "pip" else f"{pip_bin(installer.split('-')[1])}/pip"
        return f"wrap {pip} install --no-cache-dir --target {target} {' '.join(names)}"
    return (f"wrap uv pip install --no-cache --python {venv}/bin/python --target {target} "
            + " ".join(names))


def test_without_pipwrap_extra_index_url_installs_the_evil_foo(
        sandbox: Sandbox, staged: Staged) -> None:
    target = sandbox.home / "bare"
    done = sandbox.sh("bash", f"pip install --no-cache-dir --target {target} --index-url "
                              f"{staged.first} --extra-index-url {staged.upstream} foo; "
                              "echo status=$?")
    assert "status=0" in done.stdout, done.stderr
    assert installed(target) == ("evil", "9.9.9")


@pytest.mark.parametrize("installer", ["pip", "pip-23.2.1", "pip-newest", "uv"])
def test_first_source_wins_cooldown_hides_the_new_release_reserved_is_refused(
        sandbox: Sandbox, staged: Staged, venv: Path, installer: str) -> None:
    _profile(sandbox, staged.first, staged.upstream)
    target, other = sandbox.home / "t", sandbox.home / "t2"
    done = sandbox.sh("bash", "\n".join([
        _install(installer, target, venv, "foo", "bar-baz") + "; echo status=$?",
        _install(installer, other, venv, "acme-tool") + "; echo refused=$?",
    ]))
    assert "status=0" in done.stdout, done.stdout + done.stderr
    assert installed(target) == ("local", "1.0")
    assert installed(target, "bar_baz") == ("upstream", "1.9")
    assert "refused=0" not in done.stdout, done.stdout + done.stderr
    assert installed(other, "acme_tool") is None
    assert "'acme-tool' is reserved (pattern 'acme-*')" in done.stderr, done.stderr
    assert "cooldown 7 days hides 1 file(s) of 'bar-baz'" in done.stderr, done.stderr


@pytest.mark.parametrize("first", ["broken", "stopped"])
def test_a_failing_first_source_gives_nothing_from_the_fallback(
        sandbox: Sandbox, staged: Staged, first: str) -> None:
    _profile(sandbox, getattr(staged, first), staged.upstream)
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f"{_install('pip', target, Path(), 'bar-baz')}; echo status=$?")
    assert "status=0" not in done.stdout, done.stdout + done.stderr
    assert installed(target, "bar_baz") is None
    assert "the first source" in done.stderr and "fail closed" in done.stderr, done.stderr


def test_a_file_fetched_without_its_page_passes_only_as_the_composed_page_lists_it(
        sandbox: Sandbox, staged: Staged) -> None:
    """What a lock file does (uv sync --frozen, pip install -r hashed requirements): the
    old bar-baz passes, the one the cooldown hides does not."""
    _profile(sandbox, staged.first, staged.upstream)
    done = sandbox.sh("bash", "\n".join([
        "wrap " + python_c(download(staged.old_file)),
        "wrap " + python_c(download(staged.fresh_file)),
    ]))
    lines = [line for line in done.stdout.splitlines() if line.startswith(("got", "cut"))]
    assert lines[0].startswith("got "), done.stdout + done.stderr
    assert lines[1].startswith("cut "), done.stdout + done.stderr
    assert f"{FENCE} GET {staged.fresh_file}" in done.stderr, done.stderr


def test_explain_says_which_source_answers_and_why(sandbox: Sandbox, staged: Staged) -> None:
    _profile(sandbox, staged.first, staged.upstream)
    done = sandbox.sh("bash", "\n".join(
        f"pipwrap explain {name}; echo {name.lower()}=$?"
        for name in ("Foo", "bar-baz", "acme-tool")))
    out = done.stdout
    assert "foo=0" in out and "bar-baz=0" in out and "acme-tool=1" in out, out + done.stderr
    assert "foo: the first source" in out, out
    assert "bar-baz: fallback 1" in out and "bar_baz-2.0-py3-none-any.whl" in out, out
    assert "reserved (pattern 'acme-*')" in out, out
    assert "outside the cooldown" in out, out  # the static first source dates nothing



def test_explain_with_one_dead_source_says_the_index_failed_and_hints_serve(
        sandbox: Sandbox) -> None:
    dead = f"http://127.0.0.1:{free_port()}/simple/"
    done = sandbox.sh("bash", f"pipwrap add solo {dead} >/dev/null\n"
                      "pipwrap explain foo --profile solo; echo explained=$?")
    out = done.stdout
    assert "explained=1" in out, out + done.stderr
    assert f"foo: refused under profile 'solo': the index ({dead}) failed for 'foo'" in out, out
    assert "is `pipwrap serve` running?" in out, out
    assert "next" not in out and "the sources fail closed" not in out, out


GOOD = 'default = "corp"\n[profiles.corp]\nindex-url = "http://127.0.0.1:9/simple/"\n'
BAD_KEYS = {
    "fallback not a list": ('fallback = "https://pypi.org/simple/"', "fallback must be a list"),
    "fallback ftp": ('fallback = ["ftp://x/simple/"]', "fallback URL 1 must be an http://"),
    "fallback space": ('fallback = ["https://a b/"]', "fallback URL 1 must not contain spaces"),
    "fallback no host": ('fallback = ["https:///simple/"]', "fallback URL 1 has no host"),
    "fallback twice": ('fallback = ["https://x/simple/", "https://x/simple/"]',
                       "names a source twice"),
    "reserved not normalized": ('reserved = ["Acme_*"]', "write 'acme-*'"),
    "reserved not strings": ("reserved = [1]", "reserved must be a list of strings"),
    "cooldown unit": ('cooldown = "7 weeks"', "cooldown must be a duration"),
    "cooldown zero": ('cooldown = "0 days"', "cooldown must be a duration"),
    "cooldown number": ("cooldown = 7", "cooldown must be a string"),
    "exempt without cooldown": ('cooldown-exempt = ["acme-*"]', "exempts nothing"),
}


@pytest.mark.parametrize("case", BAD_KEYS)
def test_a_bad_value_names_file_line_and_key_and_nothing_runs(sandbox: Sandbox,
                                                               case: str) -> None:
    line, expected = BAD_KEYS[case]
    sandbox.write_config(GOOD + line + "\n")
    done = sandbox.sh("bash", "wrap touch RAN; echo status=$?\n"
                              "pipwrap run -- touch RAN2; echo run=$?")
    assert f"{sandbox.config}:4: profile 'corp': " in done.stderr, done.stderr
    assert expected in done.stderr, done.stderr
    assert "status=2" in done.stdout and "run=2" in done.stdout, done.stdout
    assert "Traceback" not in done.stderr
    assert not (sandbox.home / "RAN").exists() and not (sandbox.home / "RAN2").exists()


def test_a_file_index_with_a_fallback_is_refused_naming_the_key(sandbox: Sandbox) -> None:
    sandbox.write_config('default = "c"\n[profiles.c]\nindex-url = "file:///srv/tree/"\n'
                         'fallback = ["https://pypi.org/simple/"]\n')
    done = sandbox.sh("bash", "pipwrap show c; echo status=$?")
    assert "status=2" in done.stdout
    assert f"{sandbox.config}:4: profile 'c': fallback needs an http:// or https:// " \
           "index-url" in done.stderr, done.stderr


def test_add_writes_the_keys_show_prints_them_and_a_fallback_password_is_masked(
        sandbox: Sandbox) -> None:
    done = sandbox.sh("bash", "\n".join([
        "pipwrap add corp http://127.0.0.1:9/simple/ --fallback "
        "https://me:s3cret@mirror.example/simple/ --fallback https://pypi.org/simple/ "
        "--reserved 'acme-*' --reserved internal-tool --cooldown '7 days' "
        "--cooldown-exempt 'acme-*' --force; echo add=$?",
        "pipwrap show corp", "pipwrap show corp --json", "pipwrap list --json",
        "pipwrap add x http://127.0.0.1:9/simple/ --cooldown soon; echo bad=$?",
    ]))
    assert "add=0" in done.stdout and "bad=2" in done.stdout, done.stdout + done.stderr
    assert "fallback: https://me:****@mirror.example/simple/, https://pypi.org/simple/" \
        in done.stdout
    assert "reserved: acme-*, internal-tool" in done.stdout
    assert "cooldown: 7 days" in done.stdout and "cooldown-exempt: acme-*" in done.stdout
    assert '"cooldown_exempt": [' in done.stdout
    assert "s3cret" not in done.stdout + done.stderr
    assert "add: profile 'x': cooldown must be a duration" in done.stderr
    text = sandbox.config.read_text()
    assert 'reserved = ["acme-*", "internal-tool"]' in text
    assert sandbox.config.stat().st_mode & 0o077 == 0  # a password in a fallback: 0600


def test_add_writes_the_source_keys_in_the_contracts_order(sandbox: Sandbox) -> None:
    done = sandbox.sh("bash", "pipwrap add corp http://127.0.0.1:9/simple/ "
                      "--cooldown-exempt 'acme-*' --cooldown '7 days' --reserved 'acme-*' "
                      "--fallback https://pypi.org/simple/; echo add=$?")
    assert "add=0" in done.stdout, done.stdout + done.stderr
    corp = sandbox.config.read_text().split("[profiles.corp]", 1)[1]
    keys = [line.split("=")[0].strip() for line in corp.splitlines()
            if "=" in line and line.split("=")[0].strip() in ORDER]
    assert keys == list(ORDER), sandbox.config.read_text()


ORDER = ("index-url", "fallback", "reserved", "cooldown", "cooldown-exempt")


def test_doctor_shows_the_policy_and_a_source_outside_the_cooldown(
        sandbox: Sandbox, staged: Staged) -> None:
    sandbox.write_config(
        'default = "corp"\n[profiles.corp]\n'
        f'index-url = "{staged.first}"\nfallback = ["{staged.upstream}"]\n'
        'reserved = ["acme-*"]\ncooldown = "7 days"\ncooldown-exempt = ["acme-lib"]\n')
    done = sandbox.sh("bash", "pipwrap doctor; pipwrap doctor --json")
    assert "sources, in order (a project comes from the first that has it):" in done.stdout
    assert f"  1. {staged.first}  (answers HTML only: no upload times, so it is outside the " \
           "cooldown)" in done.stdout, done.stdout
    assert f"  2. {staged.upstream}" in done.stdout
    assert "  reserved (never from a fallback): acme-*" in done.stdout
    assert "  cooldown: 7 days, except acme-lib" in done.stdout
    assert '"upload_times": false' in done.stdout


def test_uv_lock_then_sync_frozen_in_another_session_keeps_the_real_sources(
        sandbox: Sandbox, staged: Staged, venv: Path) -> None:
    """The lock names the real file URLs (foo on the first source, bar-baz 1.9 on the
    fallback); another session, which reads no page, installs them because the page the
    composition picks for each project lists them with that hash."""
    _profile(sandbox, staged.first, staged.upstream)
    project = sandbox.home / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
        'dependencies = ["foo", "bar-baz"]\n')
    done = sandbox.sh("bash", f"cd {project} && wrap uv lock -q; echo locked=$?")
    assert "locked=0" in done.stdout, done.stderr
    lock = (project / "uv.lock").read_text()
    assert staged.old_file in lock and staged.first.replace("/simple/", "/files/") in lock, lock
    assert "bar_baz-2.0" not in lock
    done = sandbox.sh("bash", (
        f"cd {project} && UV_CACHE_DIR={sandbox.home}/uvc "
        f"wrap uv sync -q --frozen --python {venv}/bin/python; echo synced=$?"))
    assert "synced=0" in done.stdout, done.stderr
    site = next((project / ".venv" / "lib").glob("python*/site-packages"))
    assert installed(site) == ("local", "1.0")
    assert installed(site, "bar_baz") == ("upstream", "1.9")


def test_a_cooldown_on_a_profile_whose_only_source_is_the_public_index(
        sandbox: Sandbox, staged: Staged) -> None:
    sandbox.write_config(f'default = "pypi"\n[profiles.pypi]\nindex-url = "{staged.upstream}"\n'
                         'cooldown = "P7D"\n')
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f"{_install('pip', target, Path(), 'bar-baz')}; echo status=$?\n"
                              f"{_install('pip', target, Path(), 'bar-baz==2.0')}; echo new=$?")
    assert "status=0" in done.stdout, done.stdout + done.stderr
    assert installed(target, "bar_baz") == ("upstream", "1.9")
    assert "new=0" not in done.stdout
    assert "cooldown P7D hides 1 file(s) of 'bar-baz'" in done.stderr, done.stderr


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_https_sources_with_the_profiles_ca(sandbox: Sandbox, tmp_path: Path, venv: Path,
                                            installer: str) -> None:
    """Both sources over TLS signed by the profile's ca-file: the fence reads them itself
    (in the client's CONNECT tunnel, with the same CA), and the developer's own CA variables
    (which even trust the test CA) change nothing."""
    ca = static_index.make_ca(tmp_path / "ca")
    upstream = static_index.tree(tmp_path / "up", [
        make_wheel(tmp_path / "w-up", "Foo", "9.9.9", "evil"),
        make_wheel(tmp_path / "w-up", "bar-baz", "2.0", "upstream")])
    first = static_index.tree(tmp_path / "first", [make_wheel(tmp_path / "w1", "Foo", "1.0",
                                                              "local")])
    with static_index.serve(upstream, context=ca.server_context(tmp_path / "s1")) as up, \
            static_index.serve(first, context=ca.server_context(tmp_path / "s2")) as loc:
        sandbox.write_config(f'default = "tls"\n[profiles.tls]\nindex-url = "{loc.url}"\n'
                             f'fallback = ["{up.url}"]\nca-file = "{ca.cert}"\n')
        target = sandbox.home / "t"
        env = {name: str(ca.cert) for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
                                               "CURL_CA_BUNDLE", "PIP_CERT")}
        done = sandbox.sh("bash", _install(installer, target, venv, "foo", "bar-baz")
                          + "; echo status=$?", **env)
    assert "status=0" in done.stdout, done.stdout + done.stderr
    assert installed(target) == ("local", "1.0")
    assert installed(target, "bar_baz") == ("upstream", "2.0")


def test_a_fallback_login_goes_to_the_fallback_only_and_is_never_shown(
        sandbox: Sandbox, tmp_path: Path, staged: Staged) -> None:
    wheels = [(make_wheel(tmp_path / "w", "bar-baz", "1.9", "private"), 30 * 86400)]
    pages = _json_upstream(tmp_path / "up", wheels)
    with _serve_json(tmp_path / "up", pages, login="me:s3cret") as private:
        with_login = private.replace("http://", "http://me:s3cret@")
        sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                             f'index-url = "{staged.first}"\nfallback = ["{with_login}"]\n')
        target = sandbox.home / "t"
        done = sandbox.sh("bash", "\n".join([
            f"{_install('pip', target, Path(), 'foo', 'bar-baz')}; echo status=$?",
            "pipwrap explain bar-baz; pipwrap show", "pipwrap doctor >/dev/null"]))
    assert "status=0" in done.stdout, done.stdout + done.stderr
    assert installed(target, "bar_baz") == ("private", "1.9")
    assert "me:****@" in done.stdout, done.stdout
    assert "s3cret" not in done.stdout + done.stderr


def test_a_first_source_refusing_the_login_fails_closed_and_names_the_login(
        sandbox: Sandbox, tmp_path: Path, staged: Staged) -> None:
    wheels = [(make_wheel(tmp_path / "w", "bar-baz", "1.0", "private"), 30 * 86400)]
    pages = _json_upstream(tmp_path / "first", wheels)
    with _serve_json(tmp_path / "first", pages, login="me:s3cret") as first:
        sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                             f'index-url = "{first}"\nusername = "me"\n'
                             f'password-env = "CORP_PW"\nfallback = ["{staged.upstream}"]\n')
        wrong, right = sandbox.home / "wrong", sandbox.home / "right"
        done = sandbox.sh("bash", "\n".join([
            f"CORP_PW=nope {_install('pip', wrong, Path(), 'bar-baz')}; echo wrong=$?",
            f"CORP_PW=s3cret {_install('pip', right, Path(), 'bar-baz')}; echo right=$?"]))
    assert "wrong=0" not in done.stdout and "right=0" in done.stdout, done.stdout + done.stderr
    assert installed(wrong, "bar_baz") is None  # the fallback's 1.9 never
    assert installed(right, "bar_baz") == ("private", "1.0")
    assert "(HTTP 401); the sources fail closed" in done.stderr, done.stderr
    assert "the server refused the login of profile 'corp'" in done.stderr, done.stderr
    assert "with the password from the variable CORP_PW" in done.stderr


def test_a_first_source_redirecting_a_reserved_name_to_its_own_upstream_is_refused(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """The first source is a local-first server (pypiserver --fallback-url; `pipwrap serve
    --fallback` alike) that 303s a name it does not hold to its upstream. For a reserved
    name that is a fallback all the same: refused, and the upstream never hears the name.
    For another name the redirect is the source's answer, and the cooldown applies to it."""
    wheels = [(make_wheel(tmp_path / "w", "bar-baz", "1.9", "upstream"), 30 * 86400),
              (make_wheel(tmp_path / "w", "bar-baz", "2.0", "upstream"), 3600)]
    pages = _json_upstream(tmp_path / "up", wheels)
    make_wheel(tmp_path / "local", "Foo", "1.0", "local")
    asked: list[str] = []
    with _serve_json(tmp_path / "up", pages, asked=asked) as upstream, \
            serving(tmp_path / "local", fallback=upstream) as first:
        sandbox.write_config("".join(
            f'[profiles.{name}]\nindex-url = "{first.url}"\nfallback = ["{upstream}"]\n'
            f'reserved = ["{pattern}"]\ncooldown = "7 days"\n\n'
            for name, pattern in (("team", "bar-*"), ("open", "acme-*"))))
        bare, reserved, other = (sandbox.home / n for n in ("bare", "reserved", "other"))
        # Without pipwrap: the local-first server hands the reserved name to its upstream.
        done = sandbox.sh("bash", f"pip install --no-cache-dir --target {bare} --index-url "
                                  f"{first.url} bar-baz; echo bare=$?")
        assert "bare=0" in done.stdout, done.stdout + done.stderr
        assert installed(bare, "bar_baz") == ("upstream", "2.0")
        asked.clear()
        done = sandbox.sh("bash", "\n".join([
            f"wrap pip install --no-cache-dir --target {reserved} foo; echo foo=$?",
            f"wrap pip install --no-cache-dir --target {reserved} bar-baz; echo reserved=$?",
            "pipwrap explain bar-baz; echo explained=$?"]), PIPWRAP_PROFILE="team")
        heard = [path for path in asked if "bar" in path]
        other_done = sandbox.sh("bash", "\n".join([
            f"wrap pip install --no-cache-dir --target {other} bar-baz; echo other=$?",
            "pipwrap explain bar-baz --json"]), PIPWRAP_PROFILE="open")
    out = done.stdout + done.stderr
    assert "foo=0" in done.stdout, out  # the first source's own page: no redirect
    assert installed(reserved) == ("local", "1.0"), out
    assert "reserved=0" not in done.stdout and "explained=1" in done.stdout, out
    assert installed(reserved, "bar_baz") is None, out
    refusal = (f"'bar-baz' is reserved (pattern 'bar-*') and the first source ({first.url}) "
               f"redirected it elsewhere ({upstream}bar-baz/)")
    assert refusal in done.stderr and refusal in done.stdout, out  # the fence and explain
    assert heard == [], heard  # the redirect is not followed: the name stays private
    out = other_done.stdout + other_done.stderr
    assert "other=0" in other_done.stdout, out
    assert installed(other, "bar_baz") == ("upstream", "1.9"), out
    assert "cooldown 7 days hides 1 file(s) of 'bar-baz'" in other_done.stderr, out
    explained = json.loads(other_done.stdout[other_done.stdout.index("{"):])
    assert explained["redirected_to"] == f"{upstream}bar-baz/", explained
    assert any("a server-side fallback" in step for step in explained["steps"]), explained


def _sha256(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return hashlib.sha256(response.read()).hexdigest()


def _pdm_lock(entries: list[tuple[str, str, str]]) -> str:
    """A pdm.lock as `pdm lock --static-urls` writes it: (name, version, file URL)."""
    text = ('[metadata]\ngroups = ["default"]\nstrategy = ["inherit_metadata", "static_urls"]\n'
            'lock_version = "4.5.1"\ncontent_hash = "sha256:00"\n\n'
            '[[metadata.targets]]\nrequires_python = ">=3.9"\n')
    for name, version, url in entries:
        text += (f'\n[[package]]\nname = "{name}"\nversion = "{version}"\nsummary = ""\n'
                 f'groups = ["default"]\nfiles = [\n    {{url = "{url}", hash = '
                 f'"sha256:{_sha256(url)}"}},\n]\n')
    return text


def _pylock(entries: list[tuple[str, str, str]], table: str = "wheels") -> str:
    """A pylock.toml as `pip lock` (26.3) writes it: no per-package ``index``."""
    text = 'lock-version = "1.0"\ncreated-by = "pip"\n'
    for name, version, url in entries:
        file_name = url.rpartition("/")[2]
        text += (f'\n[[packages]]\nname = "{name}"\nversion = "{version}"\n\n'
                 f'[[packages.{table}]]\nname = "{file_name}"\nurl = "{url}"\n\n'
                 f'[packages.{table}.hashes]\nsha256 = "{_sha256(url)}"\n')
    return text.replace(f"[[packages.{table}]]", f"[packages.{table}]") \
        if table == "archive" else text


def test_a_registry_less_lock_naming_the_fallbacks_files_passes_under_a_fallback(
        sandbox: Sandbox, staged: Staged, venv: Path) -> None:
    """`pdm lock --static-urls` and `pip lock` write each file's real URL (foo on the first
    source, bar-baz 1.9 on the fallback) and no registry: with a fallback the guard lets
    them by (the fence checks each file against its project's composed page); without one
    it refuses them as before, and a file of another project or a direct URL stays refused."""
    foo = staged.first.replace("/simple/", "/files/") + "foo-1.0-py3-none-any.whl"
    good = [("foo", "1.0", foo), ("bar-baz", "1.9", staged.old_file)]
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml",
               '[project]\nname = "app"\nversion = "0"\ndependencies = ["foo", "bar-baz"]\n')
    write_file(project / "pdm.lock", _pdm_lock(good))
    write_file(project / "pylock.toml", _pylock(good))
    # Each: a lock file the profile's tool reads -> (profile, expected exit, message).
    cases = {
        "other": _pdm_lock([("bar-baz", "1.9", staged.upstream.replace(
            "/simple/", "/files/") + "foo-9.9.9-py3-none-any.whl")]),
        "fresh": _pylock([("bar-baz", "2.0", staged.fresh_file)]),
        "archive": _pylock([("bar-baz", "1.9", staged.old_file)], table="archive"),
    }
    for name, text in cases.items():
        write_file(sandbox.home / name / "pyproject.toml", '[project]\nname = "x"\n')
        write_file(sandbox.home / name / ("pylock.toml" if "pylock" in text[:40] or
                                          "packages" in text else "pdm.lock"), text)
    sandbox.write_config(
        'default = "corp"\n[profiles.corp]\n'
        f'index-url = "{staged.first}"\nfallback = ["{staged.upstream}"]\n'
        'cooldown = "7 days"\n\n'
        f'[profiles.alone]\nindex-url = "{staged.first}"\ncooldown = "7 days"\n')
    uv = f"uv pip install -q --no-cache --python {venv}/bin/python"
    done = sandbox.sh("bash", "\n".join([
        f"cd {project}",
        "pipwrap check pdm sync; echo pdm=$?",
        f"wrap {uv} --target {project}/t -r pylock.toml; echo uv=$?",
        "PIPWRAP_PROFILE=alone pipwrap check pdm sync; echo pdm_alone=$?",
        "PIPWRAP_PROFILE=alone pipwrap check uv pip install -r pylock.toml; echo uv_alone=$?",
        f"cd {sandbox.home}/other && pipwrap check pdm sync; echo other=$?",
        f"cd {sandbox.home}/archive && pipwrap check uv pip install -r pylock.toml; "
        "echo archive=$?",
        f"cd {sandbox.home}/fresh && pipwrap check uv pip install -r pylock.toml; "
        "echo fresh_guard=$?",
        f"wrap {uv} --target {sandbox.home}/fresh/t -r pylock.toml; echo fresh=$?",
    ]), UV_HTTP_RETRIES="0")
    out = done.stdout + done.stderr
    for passed in ("pdm=0", "uv=0", "fresh_guard=0"):
        assert passed in done.stdout, out
    assert installed(project / "t") == ("local", "1.0"), out
    assert installed(project / "t", "bar_baz") == ("upstream", "1.9"), out
    for refused in ("pdm_alone=3", "uv_alone=3", "other=3", "archive=3"):
        assert refused in done.stdout, out
    assert f": bar-baz: {staged.old_file} is downloaded from outside the " \
           "profile's index" in done.stderr, out
    assert "foo-9.9.9-py3-none-any.whl is not a file of that project at that version" \
        in done.stderr, out
    # The guard lets a lock's fallback file by; the fence still checks it: the file the
    # cooldown hides is refused.
    assert "fresh=0" not in done.stdout, out
    assert installed(sandbox.home / "fresh" / "t", "bar_baz") is None, out
    assert f"{FENCE} GET {staged.fresh_file}" in done.stderr, out
