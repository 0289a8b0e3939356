"""Uploads and logins in `pipwrap serve`, with the real uploaders (twine, uv publish) and
pip reading behind a login; immutability and atomicity as `repo add`; kill -9 mid-upload."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipwrap.profiles import model as config
from pipwrap.repo import defaults
from tests.support import hosting
from tests.support.sandbox import Sandbox, installed, uv_dir
from tests.support.uploads import (
    anon_and_team,
    apr1_entry,
    big_wheel,
    check_consistent,
    multipart,
    post,
    sha_entry,
    upload_sdist,
    uv_publish,
)
from tests.support.uploads import twine as quiet_twine
from tests.support.wheels import make_wheel


def twine(env: dict[str, str], url: str, *files: Path, user: str = "",
          password: str = "") -> subprocess.CompletedProcess[str]:
    """twine as the docs tell a user to read a refusal: `--verbose` prints the response
    body, where serve says why (the reason phrase is the standard one: granian's hyper
    sends no other, and RFC 9110 tells clients to ignore it)."""
    return quiet_twine(env, url, *files, user=user, password=password, extra=("--verbose",))


def page(base: str, project: str, auth: tuple[str, str] | None = None) -> dict[str, object]:
    request = urllib.request.Request(f"{base}/simple/{project}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    if auth:
        import base64

        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, object] = json.load(response)
        return data


def filenames(data: dict[str, object]) -> list[str]:
    files = data["files"]
    assert isinstance(files, list)
    return sorted(item["filename"] for item in files)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {**hosting.child_env(home), "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}


def test_twine_and_uv_publish_upload_with_a_login(tmp_path: Path, env: dict[str, str]) -> None:
    logins = tmp_path / "htpasswd"
    logins.write_text(f"ci:{sha_entry('ci-pass')}\n__token__:{apr1_entry('tok-123')}\n")
    dist = tmp_path / "dist"
    wheel = make_wheel(dist, "Team.Lib", "1.0", "local")
    sdist = upload_sdist(dist, "Team.Lib", "1.0")
    other = make_wheel(tmp_path / "uv", "uv-made", "0.3", "local")
    root = tmp_path / "repo"
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback", "--htpasswd",
                               str(logins), env=env) as served:
        base = served.base
        # No login, a wrong one, a wrong user: 401 and nothing stored.
        for user, password in (("", ""), ("ci", "nope"), ("eve", "ci-pass")):
            done = twine(env, f"{base}/", wheel, user=user, password=password)
            assert done.returncode != 0 and "401" in done.stdout + done.stderr, done.stdout
        assert not (root / "team-lib").exists()
        done = uv_publish(env, f"{base}/legacy/", other, user="ci", password="wrong")
        assert done.returncode != 0 and "401" in done.stderr, done.stderr

        done = twine(env, f"{base}/", wheel, sdist, user="ci", password="ci-pass")
        assert done.returncode == 0, done.stdout + done.stderr
        # In the pages by the time twine returns.
        assert filenames(page(base, "team-lib")) == sorted([wheel.name, sdist.name])
        done = uv_publish(env, f"{base}/legacy/", other, user="__token__", password="tok-123")
        assert done.returncode == 0, done.stderr
        assert filenames(page(base, "uv-made")) == [other.name]
        assert "uploaded team-lib/" in served.log_text()
        assert "by ci" in served.log_text() and "by __token__" in served.log_text()

        # The same bytes again: fine (twine and uv publish re-runs); other bytes: 409.
        done = twine(env, f"{base}/", wheel, user="ci", password="ci-pass")
        assert done.returncode == 0, done.stdout + done.stderr
        before = hashlib.sha256((root / "team-lib" / wheel.name).read_bytes()).hexdigest()
        evil = make_wheel(tmp_path / "evil", "Team.Lib", "1.0", "evil")
        done = twine(env, f"{base}/", evil, user="ci", password="ci-pass")
        assert done.returncode != 0 and "409" in done.stdout + done.stderr
        assert "immutable" in done.stdout + done.stderr
        assert str(root) not in done.stdout + done.stderr  # no server paths to clients
        done = uv_publish(env, f"{base}/legacy/", evil, user="ci", password="ci-pass")
        assert done.returncode != 0, done.stderr
        after = hashlib.sha256((root / "team-lib" / wheel.name).read_bytes()).hexdigest()
        assert before == after
        # A file repo add refuses is refused here too, with the reason.
        lying = make_wheel(tmp_path / "lying", "Team.Lib", "2.0", "x", metadata_version="3.0")
        done = twine(env, f"{base}/", lying, user="ci", password="ci-pass")
        assert done.returncode != 0 and "400" in done.stdout + done.stderr
        assert filenames(page(base, "team-lib")) == sorted([wheel.name, sdist.name])
    check_consistent(root)


def test_uploads_are_off_unless_turned_on_and_anonymous_only_with_auth_none(
    tmp_path: Path, env: dict[str, str]
) -> None:
    wheel = make_wheel(tmp_path / "dist", "Anon", "1.0", "local")
    root = tmp_path / "repo"
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback", env=env) as served:
        done = twine(env, f"{served.base}/", wheel)
        assert done.returncode != 0 and "405" in done.stdout + done.stderr
    assert not (root / "anon").exists()
    with hosting.pipwrap_serve(root, tmp_path / "log2", "--no-fallback", "--auth", "none",
                               env=env) as served:
        done = twine(env, f"{served.base}/", wheel)
        assert done.returncode == 0, done.stdout + done.stderr
        done = uv_publish(env, f"{served.base}/legacy/",
                          make_wheel(tmp_path / "d2", "Anon", "1.1", "local"))
        assert done.returncode == 0, done.stderr
        assert filenames(page(served.base, "anon")) == ["anon-1.0-py3-none-any.whl",
                                                        "anon-1.1-py3-none-any.whl"]
    bad = subprocess.run([sys.executable, "-m", "pipwrap", "serve", "--repo", str(root),
                          "--auth", "read,upload"], env=env, capture_output=True, text=True,
                         check=False)
    assert bad.returncode != 0 and "needs --htpasswd" in bad.stderr


def test_malformed_uploads_are_refused_and_leave_nothing(tmp_path: Path,
                                                         env: dict[str, str]) -> None:
    wheel = make_wheel(tmp_path / "dist", "Shape", "1.0", "local")
    root = tmp_path / "repo"
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback", "--auth", "none",
                               "--max-upload", "1", env=env) as served:
        body, kind = multipart(wheel, {"sha256_digest": "0" * 64})
        status, text = post(served.base, body, kind)
        assert status == 400 and "does not match" in text
        body, kind = multipart(wheel, {"sha256_digest": "", "md5_digest": "0" * 32})
        status, text = post(served.base, body, kind)
        assert status == 400 and "md5_digest" in text
        body, kind = multipart(wheel, {":action": "submit"})
        assert post(served.base, body, kind)[0] == 400
        body, kind = multipart(wheel, {"name": "other-project"})
        assert post(served.base, body, kind)[0] == 400
        for name in ("../../../x.whl", "shape-1.0-py3-none-any.whl\x00.txt", ".hidden.whl"):
            body, kind = multipart(wheel, filename=name)
            assert post(served.base, body, kind)[0] == 400, name
        assert post(served.base, b"not multipart", "text/plain")[0] == 400
        assert post(served.base, body[:len(body) // 2],
                    kind)[0] == 400  # a truncated body (Content-Length matches the half)
        big = big_wheel(tmp_path / "big", "Huge", "1.0", 2 * 1024 * 1024)
        body, kind = multipart(big)
        try:
            status, text = post(served.base, body, kind)
        except OSError:
            # Refused on its Content-Length and answered at once: a client still sending
            # may meet the close before the answer (docs/hosting.md); nothing is kept.
            status, text = 413, "connection closed while sending"
        assert status == 413, text
        body, kind = multipart(wheel)
        assert post(served.base, body, kind, path="/simple/")[0] == 404
        # A chunked body (no Content-Length), in uneven pieces.
        connection = http.client.HTTPConnection("127.0.0.1", int(served.base.rsplit(":", 1)[1]),
                                                timeout=30)
        pieces = [body[i:i + 777] for i in range(0, len(body), 777)]
        connection.request("POST", "/legacy/", body=iter(pieces), encode_chunked=True,
                           headers={"Content-Type": kind, "Transfer-Encoding": "chunked"})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        connection.close()
        status, text = post(served.base, body, kind)  # the same bytes again: a no-op
        assert status == 200, text
        assert "Traceback" not in served.log_text()
    assert [p for p in (root / ".pipwrap" / "uploads").rglob("*") if p.is_file()] == []
    assert check_consistent(root) == {"shape": [wheel.name]}


def test_login_to_read(tmp_path: Path, env: dict[str, str], venv: Path) -> None:
    logins = tmp_path / "htpasswd"
    logins.write_text(f"reader:{apr1_entry('r-pass')}\n")
    dist = tmp_path / "dist"
    make_wheel(dist, "Secret", "1.0", "local")
    root = tmp_path / "repo"
    done = subprocess.run([sys.executable, "-m", "pipwrap", "repo", "add", "--repo", str(root),
                           *map(str, dist.iterdir())], env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback", "--htpasswd",
                               str(logins), "--auth", "read,upload", env=env) as served:
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(served.url, timeout=10)
        assert caught.value.code == 401
        assert caught.value.headers["WWW-Authenticate"].startswith("Basic")
        assert filenames(page(served.base, "secret", ("reader", "r-pass"))) == [
            "secret-1.0-py3-none-any.whl"]
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir",
               "--target"]
        port = served.base.rsplit(":", 1)[1]
        done = subprocess.run([*pip, str(tmp_path / "no"), "--index-url", served.url,
                               "secret"], env=env, capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL)
        assert done.returncode != 0
        login_url = f"http://reader:r-pass@127.0.0.1:{port}/simple/"
        done = subprocess.run([*pip, str(tmp_path / "t"), "--index-url", login_url, "secret"],
                              env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert installed(tmp_path / "t", "secret") == ("local", "1.0")
        done = subprocess.run([str(uv_dir() / "uv"), "pip", "install", "--no-cache",
                               "--python", str(venv / "bin" / "python"), "--target",
                               str(tmp_path / "u"), "--index-url", login_url, "secret"],
                              env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr


def test_wrap_twine_upload_never_prompts(sandbox: Sandbox, tmp_path: Path) -> None:
    """A profile without a login uploads anonymously; one with a login passes it; neither
    waits on a prompt (stdin is empty; TWINE_NON_INTERACTIVE turns a prompt into an error)."""
    assert f"http://{defaults.HOST}:{defaults.PORT}/" == config.BUILTIN_UPLOAD_URL
    wheel = make_wheel(tmp_path / "dist", "Wrapped", "1.0", "local")
    second = make_wheel(tmp_path / "dist2", "Wrapped", "2.0", "local")
    env = sandbox.env
    with anon_and_team(sandbox, tmp_path, "s3cr3t"):
        script = (f"wrap twine upload --disable-progress-bar {wheel}; echo anon=$?\n"
                  f"PIPWRAP_PROFILE=team wrap twine upload --disable-progress-bar {wheel}; "
                  "echo nopw=$?\n"
                  f"PIPWRAP_PROFILE=team UPLOAD_PW=s3cr3t wrap twine upload "
                  f"--disable-progress-bar {second}; echo team=$?\n")
        started = time.monotonic()
        done = sandbox.sh("bash", script)
        assert time.monotonic() - started < 90
        assert "anon=0" in done.stdout, done.stdout + done.stderr
        assert "nopw=0" not in done.stdout and "nopw=" in done.stdout  # 401, no prompt
        assert "Enter your" not in done.stdout + done.stderr
        assert "team=0" in done.stdout, done.stdout + done.stderr
        assert (tmp_path / "open" / "wrapped" / wheel.name).is_file()
        assert (tmp_path / "closed" / "wrapped" / second.name).is_file()
        assert not (tmp_path / "closed" / "wrapped" / wheel.name).exists()
    shown = subprocess.run([sys.executable, "-m", "pipwrap", "env", "--profile", "local"],
                           env=env, capture_output=True, text=True, check=False)
    assert f"TWINE_REPOSITORY_URL='{config.BUILTIN_UPLOAD_URL}'" in shown.stdout, shown.stderr
    assert "TWINE_NON_INTERACTIVE='1'" in shown.stdout
    assert "TWINE_PASSWORD=''" in shown.stdout  # anonymous, shown as such


def _start(root: Path, log: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    root.mkdir(exist_ok=True)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipwrap", "serve", "--repo", str(root), "--port", str(port),
             "--no-fallback", "--auth", "none"], stdout=sink, stderr=sink, env=env,
            start_new_session=True)
    hosting.wait_for(f"http://127.0.0.1:{port}/simple/", process)
    return process


def test_kill_9_at_random_points_of_an_upload_leaves_a_consistent_tree(
    tmp_path: Path, env: dict[str, str]
) -> None:
    from tests.support.servers import free_port

    rng = random.Random(17)  # noqa: S311 - reproducible kill points, not secrets
    root = tmp_path / "repo"
    wheels = [big_wheel(tmp_path / f"d{i}", "Killed", f"1.{i}", 6 * 1024 * 1024)
              for i in range(8)]
    port = free_port()
    log = tmp_path / "log"
    for wheel in wheels:
        body, kind = multipart(wheel)
        process = _start(root, log, env, port)
        cut = rng.choice([rng.randrange(len(body)), len(body)])
        sock = socket.create_connection(("127.0.0.1", port))
        head = (f"POST /legacy/ HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        sock.sendall(head + body[:cut])
        time.sleep(rng.choice([0, 0.01, 0.05, 0.2]))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        sock.close()
        # Restarted, the tree is whole: every page lists whole files only, and the
        # interrupted upload either is all there or left no trace a client could see.
        process = _start(root, log, env, port)
        try:
            time.sleep(0.3)
            listed = check_consistent(root)
            spool = root / ".pipwrap" / "uploads"
            assert not [p for p in spool.rglob("*") if p.is_file()]  # cleared at start
            status, text = post(f"http://127.0.0.1:{port}", body, kind)
            assert status == 200, text
            listed = check_consistent(root)
            assert wheel.name in listed["killed"]
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
    assert len(check_consistent(root)["killed"]) == len(wheels)


def make_certificate(work: Path, ca: Path, cert: Path, key: Path) -> None:
    """A test CA and a certificate for 127.0.0.1 it signed (uv refuses a self-signed
    end-entity certificate)."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=pipwrap test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", str(work / "ca.key"), "-out", str(ca))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", str(key), "-out", str(work / "leaf.csr"))
    extensions = work / "leaf.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                          "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(work / "leaf.csr"), "-CA", str(ca), "-CAkey",
            str(work / "ca.key"), "-CAcreateserial", "-days", "2", "-out", str(cert),
            "-extfile", str(extensions))


def test_tls_with_pip_uv_and_twine(tmp_path: Path, env: dict[str, str], venv: Path) -> None:
    """--tls-cert/--tls-key: pip, uv and twine over HTTPS with a login; plain HTTP to the
    same port fails without a traceback in the log."""
    import ssl

    from tests.support.servers import free_port

    cert, key, ca = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    make_certificate(tmp_path, ca, cert, key)
    logins = tmp_path / "htpasswd"
    logins.write_text(f"ci:{sha_entry('tls-pass')}\n")
    wheel = make_wheel(tmp_path / "dist", "Secure", "1.0", "local")
    root = tmp_path / "repo"
    root.mkdir()
    port = free_port()
    log = tmp_path / "log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipwrap", "serve", "--repo", str(root), "--port", str(port),
             "--no-fallback", "--htpasswd", str(logins), "--tls-cert", str(cert),
             "--tls-key", str(key)], stdout=sink, stderr=sink, env=env, start_new_session=True)
    try:
        context = ssl.create_default_context(cafile=str(ca))
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/simple/", timeout=2,
                                            context=context) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        tls_env = {**env, "REQUESTS_CA_BUNDLE": str(ca), "SSL_CERT_FILE": str(ca)}
        done = twine(tls_env, f"https://127.0.0.1:{port}/", wheel, user="ci",
                     password="tls-pass")
        assert done.returncode == 0, done.stdout + done.stderr
        index = f"https://ci:tls-pass@127.0.0.1:{port}/simple/"
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install",
                               "--no-cache-dir", "--target", str(tmp_path / "p"),
                               "--index-url", index, "secure"], env=tls_env,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert installed(tmp_path / "p", "secure") == ("local", "1.0")
        done = subprocess.run([str(uv_dir() / "uv"), "pip", "install", "--no-cache",
                               "--python", str(venv / "bin" / "python"), "--target",
                               str(tmp_path / "u"), "--index-url", index, "secure"],
                              env=tls_env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        # Plain HTTP to the TLS port: a TLS alert, never a page (http.client reads the
        # alert's bytes as a bad status line).
        with pytest.raises((OSError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/simple/", timeout=5)
        assert "Traceback" not in log.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


def test_a_client_waiting_for_100_continue_hears_the_refusal_first(
    tmp_path: Path, env: dict[str, str]
) -> None:
    logins = tmp_path / "htpasswd"
    logins.write_text(f"ci:{sha_entry('pw')}\n")
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--no-fallback",
                               "--htpasswd", str(logins), "--max-upload", "5",
                               env=env) as served:
        port = int(served.base.rsplit(":", 1)[1])

        def answer(auth: str, length: int) -> bytes:
            """What the server says before a byte of the body: its status line, and for
            a refusal the sentence in its body (the reason phrase is the standard one)."""
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall((f"POST /legacy/ HTTP/1.1\r\nHost: x\r\n{auth}"
                              "Content-Type: multipart/form-data; boundary=b\r\n"
                              f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
                              ).encode())
                said = sock.recv(4096)
                if not said.startswith(b"HTTP/1.1 100"):
                    with contextlib.suppress(OSError):
                        while b"\r\n\r\n" in said and not said.endswith(b"\n"):
                            more = sock.recv(4096)
                            if not more:
                                break
                            said += more
                return said

        refused = answer("", 1000)
        assert refused.startswith(b"HTTP/1.1 401 "), refused
        assert refused.endswith(b"\r\n\r\na valid login is needed to upload\n"), refused
        good = "Authorization: Basic Y2k6cHc=\r\n"  # ci:pw
        too_big = answer(good, 50 * 1024 * 1024)
        assert too_big.startswith(b"HTTP/1.1 413 "), too_big
        assert b"larger than this server's limit (5 MiB" in too_big, too_big
        assert answer(good, 1000).split(b"\r\n", 1)[0] == b"HTTP/1.1 100 Continue"


def test_mangled_upload_bodies_are_refused_never_crash(tmp_path: Path) -> None:
    """The multipart reader in-process: truncated, mutated and re-framed bodies end in an
    UploadError (or a clean add), never another exception, and leave no spool files."""
    import io

    from pipwrap.repo import upload

    wheel = make_wheel(tmp_path / "dist", "Fuzz", "1.0", "local")
    body, kind = multipart(wheel)
    root = tmp_path / "repo"
    rng = random.Random(5)  # noqa: S311 - reproducible mutations, not secrets
    outcomes = {"refused": 0, "added": 0}
    for round_ in range(400):
        data = bytearray(body)
        how = round_ % 4
        if how == 0:
            data = data[:rng.randrange(len(data))]
        elif how == 1:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif how == 2:
            at = rng.randrange(len(data))
            data[at:at] = rng.choice([b"\r\n", b"--", b"\r\n\r\n", b'"', b"\x00" * 50])
        else:
            data = data.replace(b"\r\n", b"\n", rng.randint(1, 6))
        reader = upload.Body(io.BufferedReader(io.BytesIO(bytes(data))), len(data), False,
                             10 * 1024 * 1024)
        try:
            upload.receive(str(root), reader, kind)
            outcomes["added"] += 1
        except upload.UploadError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 300
    spool = root / ".pipwrap" / "uploads"
    assert not [p for p in spool.rglob("*") if p.is_file()]
    check_consistent(root)

