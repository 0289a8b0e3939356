"""Helpers for serve's uploads and cache: big wheels, htpasswd files, a raw upload client,
and the tree's consistency check (every page lists only whole files with their hashes)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

from tests.support import hosting
from tests.support.sandbox import Sandbox, uv_dir
from tests.support.wheels import _metadata, _normalize, _record_hash


def big_wheel(directory: Path, name: str, version: str, size: int, seed: bytes = b"") -> Path:
    """A valid wheel carrying ``size`` incompressible bytes (stored, not deflated)."""
    module = _normalize(name)
    dist_info = f"{module}-{version}.dist-info"
    payload = b""
    block = hashlib.sha256(seed + name.encode() + version.encode()).digest()
    chunks = []
    while sum(map(len, chunks)) < size:
        block = hashlib.sha512(block).digest()
        chunks.append(block * 64)
    payload = b"".join(chunks)[:size]
    files = {
        f"{module}/__init__.py": f"ORIGIN = 'big'\nVERSION = {version!r}\n".encode(),
        f"{module}/payload.bin": payload,
        f"{dist_info}/METADATA": _metadata(name, version, None),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: pipwrap-tests\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    lines = [f"{p},{_record_hash(d)},{len(d)}" for p, d in files.items()]
    lines.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(lines) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return target


def sha_entry(password: str) -> str:
    digest = hashlib.sha1(password.encode(), usedforsecurity=False).digest()
    return "{SHA}" + base64.b64encode(digest).decode()


def apr1_entry(password: str) -> str:
    return subprocess.run(["openssl", "passwd", "-apr1", password], capture_output=True,
                          text=True, check=True).stdout.strip()


def multipart(path: Path, fields: dict[str, str] | None = None,
              filename: str | None = None) -> tuple[bytes, str]:
    data = path.read_bytes()
    boundary = uuid.uuid4().hex
    form = {":action": "file_upload", "protocol_version": "1",
            "sha256_digest": hashlib.sha256(data).hexdigest(), **(fields or {})}
    parts = []
    for key, value in form.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                     f"{value}\r\n".encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
                 f'filename="{filename or path.name}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post(base: str, body: bytes, content_type: str, path: str = "/legacy/",
         auth: tuple[str, str] | None = None) -> tuple[int, str]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": content_type}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.reason + "\n" + response.read().decode(errors="replace")
    finally:
        connection.close()


def check_consistent(root: Path) -> dict[str, list[str]]:
    """Every page lists files that exist whole (their sha256 matches); no distribution
    file outside the pages. Returns project -> listed file names."""
    listed: dict[str, list[str]] = {}
    for directory in sorted(root.iterdir()):
        if directory.name.startswith(".") or not directory.is_dir():
            continue
        page = directory / "index.json"
        assert page.is_file(), f"{directory.name}: a project directory without its page"
        files = json.loads(page.read_text())["files"]
        names = []
        for item in files:
            path = directory / item["filename"]
            assert path.is_file(), f"{path}: listed but missing"
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest == item["hashes"]["sha256"], f"{path}: listed with another hash"
            names.append(item["filename"])
        for entry in os.listdir(directory):
            if entry.startswith(".") or entry.startswith("index.") \
                    or entry.endswith(".metadata"):
                continue
            assert entry in names, f"{directory.name}/{entry}: in the tree, not in its page"
        listed[directory.name] = names
    return listed


def upload_sdist(directory: Path, name: str, version: str) -> Path:
    """An sdist twine accepts: PKG-INFO under one top directory, beside another file."""
    import io
    import tarfile

    top = f"{_normalize(name)}-{version}"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{top}.tar.gz"
    with tarfile.open(target, "w:gz") as archive:
        for member, data in ((f"{top}/PKG-INFO", _metadata(name, version, None)),
                             (f"{top}/pyproject.toml", b"[project]\n")):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return target


BIN = Path(sys.executable).parent


def twine(env: dict[str, str], url: str, *files: Path, user: str = "", password: str = "",
          extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    run_env = {**env, "TWINE_USERNAME": user, "TWINE_PASSWORD": password,
               "TWINE_NON_INTERACTIVE": "1"}
    return subprocess.run([str(BIN / "twine"), "upload", "--disable-progress-bar",
                           "--repository-url", url, *extra, *map(str, files)],
                          env=run_env, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, timeout=120)


def uv_publish(env: dict[str, str], url: str, *files: Path, user: str = "",
               password: str = "") -> subprocess.CompletedProcess[str]:
    login = ["--username", user, "--password", password] if user else \
        ["--username", "anonymous", "--password", "none"]
    return subprocess.run([str(uv_dir() / "uv"), "publish", "--trusted-publishing", "never",
                           "--publish-url", url, *login, *map(str, files)],
                          env=env, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, timeout=120)


@contextlib.contextmanager
def anon_and_team(sandbox: Sandbox, tmp_path: Path,
                  password: str) -> Iterator[tuple[hosting.Served, hosting.Served]]:
    """Two `pipwrap serve`s and a profile for each: `anon`, the default, shaped like the
    built-in `local` (upload-url: the server's root; `--auth none`), and `team`, whose
    uploads want the login ci:PASSWORD, read from the password-env UPLOAD_PW."""
    logins = tmp_path / "htpasswd"
    logins.write_text(f"ci:{sha_entry(password)}\n")
    env = sandbox.env
    with hosting.pipwrap_serve(tmp_path / "open", tmp_path / "l1", "--no-fallback", "--auth",
                               "none", env=env) as open_server, \
            hosting.pipwrap_serve(tmp_path / "closed", tmp_path / "l2", "--no-fallback",
                                  "--htpasswd", str(logins), env=env) as closed:
        sandbox.write_config(
            f'default = "anon"\n[profiles.anon]\nindex-url = "{open_server.url}"\n'
            f'upload-url = "{open_server.base}/"\n'
            f'[profiles.team]\nindex-url = "{closed.url}"\nupload-url = "{closed.base}/"\n'
            'username = "ci"\npassword-env = "UPLOAD_PW"\n')
        yield open_server, closed
