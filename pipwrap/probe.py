"""`pipwrap test`: probe profiles' indexes in parallel and say clearly what is wrong."""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from pipwrap import config as config_mod
from pipwrap.config import Profile
from pipwrap.credentials import password
from pipwrap.errors import PipwrapError
from pipwrap.redact import redact

PEP691 = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Result:
    profile: str
    url: str
    ok: bool
    status: int | None
    latency_ms: float
    pep691_json: bool
    credentials: str  # "none", "accepted", "rejected"
    reason: str


def _probe(profile: Profile, timeout: float) -> Result:
    shown = profile.shown_url
    start = time.monotonic()

    def result(ok: bool, reason: str, status: int | None = None, json_ok: bool = False,
               creds: str = "none") -> Result:
        return Result(profile.name, shown, ok, status,
                      round((time.monotonic() - start) * 1000, 1), json_ok, creds, reason)

    parts = urlsplit(profile.index_url)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        ok = path.is_dir()
        return result(ok, "directory exists" if ok else f"no such directory: {path}")
    try:
        secret = password(profile, os.environ).value
    except PipwrapError as exc:
        return result(False, str(exc))
    username = profile.username or (unquote(parts.username) if parts.username else None)
    secret = secret if secret is not None else (
        unquote(parts.password) if parts.password else None)
    url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    # Only http(s) reaches here: file:// was handled above, config allows nothing else.
    request = urllib.request.Request(url, headers={  # noqa: S310
        "Accept": f"{PEP691}, text/html;q=0.1", "User-Agent": "pipwrap-test"})
    if username is not None:
        token = base64.b64encode(f"{username}:{secret or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    creds = "sent" if username is not None else "none"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            content_type = response.headers.get("Content-Type", "")
            response.read(65536)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            why = "credentials rejected" if username is not None else "needs credentials"
            return result(False, f"HTTP {exc.code}: {why}", exc.code,
                          creds="rejected" if username is not None else "none")
        return result(False, f"HTTP {exc.code} {exc.reason}", exc.code, creds=creds)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return result(False, f"no answer within {timeout:g} s")
        if isinstance(reason, ConnectionRefusedError):
            return result(False, "connection refused (is the server running?)")
        if isinstance(reason, socket.gaierror):
            return result(False, f"cannot resolve host {parts.hostname!r}")
        return result(False, f"cannot connect: {redact(str(reason))}")
    except (TimeoutError, socket.timeout):
        return result(False, f"no answer within {timeout:g} s")
    except (OSError, ValueError) as exc:
        return result(False, f"failed: {redact(str(exc))}")
    is_json = content_type.split(";")[0].strip() == PEP691
    return result(True, "ok", status, is_json,
                  "accepted" if username is not None else "none")


def main(names: list[str], *, timeout: float, as_json: bool) -> int:
    cfg = config_mod.load()
    chosen = [cfg.profile(n) for n in names] if names else [
        cfg.profiles[n] for n in sorted(cfg.profiles)]
    if not chosen:
        raise PipwrapError(f"no profiles in {cfg.path}")
    with ThreadPoolExecutor(max_workers=min(32, len(chosen))) as pool:
        results = list(pool.map(lambda p: _probe(p, timeout), chosen))
    if as_json:
        sys.stdout.write(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    else:
        width = max(len(r.profile) for r in results)
        for r in results:
            mark = "ok  " if r.ok else "FAIL"
            extra = []
            if r.status is not None:
                extra.append(f"HTTP {r.status}")
            if r.ok and r.url.startswith("http"):
                extra.append("PEP 691 JSON" if r.pep691_json else "HTML only")
            if r.credentials != "none":
                extra.append(f"credentials {r.credentials}")
            detail = ", ".join(extra) if r.ok else r.reason
            print(f"{mark} {r.profile:<{width}}  {r.latency_ms:8.1f} ms  {r.url}  {detail}")
    return 0 if all(r.ok for r in results) else 1
