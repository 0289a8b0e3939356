"""`pipwrap test`: probe profiles' indexes in parallel and say clearly what is wrong."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from pipwrap.errors import PipwrapError
from pipwrap.profiles import config as config_mod
from pipwrap.profiles.credentials import password
from pipwrap.profiles.model import Profile
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
    suggested_url: str | None = None  # where the index probably is, when this is not one


_BODY_LIMIT = 512 * 1024  # enough to judge a page; PyPI's own root is far larger
_DIST = re.compile(r"\.(whl|tar\.gz|tar\.bz2|tar\.xz|tgz|zip|egg|exe|msi|rpm)$", re.IGNORECASE)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[str, str]] = []
        self.title = ""
        self.meta: dict[str, str] = {}
        self._href: str | None = None
        self._text: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self._href, self._text = found["href"], []
        elif tag == "title":
            self._in_title = True
        elif tag == "meta" and found.get("name"):
            self.meta[str(found["name"])] = found.get("content") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.anchors.append((self._href, "".join(self._text).strip()))
            self._href = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
        if self._in_title:
            self.title += data


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def judge(url: str, content_type: str, body: bytes) -> str | None:
    """Why pip could not use the page at ``url`` as an index root, or None if it could.

    PEP 503: the root has one link per project, the link's text being the project's name
    and its last path segment the normalized name; PEP 691 JSON carries "projects". A
    page of file links is a flat directory (good for --find-links only) or one project's
    page; pip, given either as --index-url, finds nothing.
    """
    text = body.decode("utf-8", errors="replace")
    if content_type.split(";")[0].strip().lower() == PEP691:
        if '"projects"' in text:
            return None
        if '"files"' in text:
            return "this is one project's page (PEP 691 \"files\"), not the index root"
        return "the JSON answer has no \"projects\" list (PEP 691)"
    parser = _Links()
    parser.feed(text)
    projects, files = [], []
    for href, label in parser.anchors:
        target = urlsplit(urljoin(url, href))
        if _DIST.search(unquote(target.path)):
            files.append(label)
            continue
        segment = target.path.rstrip("/").rpartition("/")[2]
        if segment and _normalize(unquote(segment)) == _normalize(label.rstrip("/")):
            projects.append(_normalize(label.rstrip("/")))
    if set(projects) & {"simple", "packages"}:
        return "this looks like the server's front page or a directory above the index"
    if projects:
        return None
    if files:
        return ("the page links distribution files directly (a flat directory, as for "
                "--find-links, or one project's page), not projects: pip's --index-url "
                "needs a PEP 503 page with one link per project")
    if not parser.anchors and ("simple index" in parser.title.lower()
                               or "pypi:repository-version" in parser.meta):
        return None  # an index with no projects yet
    return "the page has no project links (a PEP 503 index has one link per project)"


def _candidates(url: str) -> list[str]:
    """Where the index probably is, given a URL that is not one."""
    parts = urlsplit(url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    segments = path.rstrip("/").split("/")
    found = []
    if segments[-1] == "packages":  # pypiserver's file listing sits beside /simple/
        found.append("/".join(segments[:-1]) + "/simple/")
    if len(segments) >= 2 and segments[-2] == "simple":  # one project's page
        found.append("/".join(segments[:-1]) + "/")
    if segments[-1] != "simple":
        found.append(path + "simple/")
    found.append("/simple/")
    unique = list(dict.fromkeys(p for p in found if p != path))
    return [urlunsplit(parts._replace(path=p, query="", fragment="")) for p in unique]


def _fetch(url: str, auth: str | None, timeout: float) -> tuple[int, str, bytes]:
    # Only http(s) reaches here: file:// is handled apart, config allows nothing else.
    request = urllib.request.Request(url, headers={  # noqa: S310
        "Accept": f"{PEP691}, text/html;q=0.1", "User-Agent": "pipwrap-test"})
    if auth is not None:
        request.add_header("Authorization", auth)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return (int(response.status), response.headers.get("Content-Type", ""),
                response.read(_BODY_LIMIT))


def _suggest(url: str, auth: str | None, timeout: float) -> str | None:
    for candidate in _candidates(url):
        try:
            _, content_type, body = _fetch(candidate, auth, timeout)
        except (OSError, ValueError):
            continue
        if judge(candidate, content_type, body) is None:
            return candidate
    return None


def _judge_directory(path: Path) -> str | None:
    """Like :func:`judge`, for a file:// index: pip reads PROJECT/index.html there."""
    if not path.is_dir():
        return f"no such directory: {path}"
    entries = list(path.iterdir())
    projects = [e for e in entries if e.is_dir()]
    if any(_DIST.search(e.name) for e in entries if e.is_file()) and not projects:
        return ("the directory holds distribution files directly (a flat directory, as for "
                "--find-links), not one directory per project (PEP 503)")
    if projects and not any((e / "index.html").is_file() for e in projects):
        return ("no project directory holds an index.html, which is what pip reads over "
                "file://")
    return None


def _probe(profile: Profile, timeout: float) -> Result:
    shown = profile.shown_url
    start = time.monotonic()

    def result(ok: bool, reason: str, status: int | None = None, json_ok: bool = False,
               creds: str = "none", suggested: str | None = None) -> Result:
        return Result(profile.name, shown, ok, status,
                      round((time.monotonic() - start) * 1000, 1), json_ok, creds, reason,
                      suggested)

    parts = urlsplit(profile.index_url)
    if parts.scheme == "file":
        problem = _judge_directory(Path(unquote(parts.path)))
        return result(problem is None, problem or "directory index")
    try:
        secret = password(profile, os.environ).value
    except PipwrapError as exc:
        return result(False, str(exc))
    username = profile.username or (unquote(parts.username) if parts.username else None)
    secret = secret if secret is not None else (
        unquote(parts.password) if parts.password else None)
    url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    auth = None
    if username is not None:
        token = base64.b64encode(f"{username}:{secret or ''}".encode()).decode()
        auth = f"Basic {token}"
    creds = "sent" if username is not None else "none"
    try:
        status, content_type, body = _fetch(url, auth, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            why = "credentials rejected" if username is not None else "needs credentials"
            return result(False, f"HTTP {exc.code}: {why}", exc.code,
                          creds="rejected" if username is not None else "none")
        suggested = _suggest(url, auth, timeout) if exc.code == 404 else None
        return result(False, f"HTTP {exc.code} {exc.reason}", exc.code, creds=creds,
                      suggested=suggested)
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
    creds = "accepted" if username is not None else "none"
    problem = judge(url, content_type, body)
    if problem is not None:
        return result(False, f"not a package index: {problem}", status, is_json, creds,
                      _suggest(url, auth, timeout))
    return result(True, "ok", status, is_json, creds)


def main(names: list[str], *, timeout: float, as_json: bool) -> int:
    cfg = config_mod.load()
    # With no names: the profiles the user defined; the built-in one only when it is all
    # there is (or the default), not as a failure beside a config that never uses it.
    listed = [n for n in sorted(cfg.profiles) if n not in cfg.builtin or n == cfg.default]
    chosen = [cfg.profile(n) for n in names] if names else [cfg.profiles[n] for n in listed]
    if not chosen:
        raise PipwrapError(f"no profiles in {cfg.path}")
    with ThreadPoolExecutor(max_workers=min(32, len(chosen))) as pool:
        results = list(pool.map(lambda p: _probe(p, timeout), chosen))
    if as_json:
        # An object, like every other --json output, so that fields can be added later.
        report = {"config": cfg.path, "ok": all(r.ok for r in results),
                  "results": [asdict(r) for r in results]}
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
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
            if r.suggested_url:
                print(f"     the index is probably at {r.suggested_url}; fix the profile "
                      f"with: pipwrap set-url {r.profile} {r.suggested_url}")
            elif "distribution files directly" in r.reason:
                print("     to serve a directory of packages as an index: pypi-server run "
                      "-p 8080 DIR, then use http://HOST:8080/simple/ (README: Host your "
                      "own index)")
    return 0 if all(r.ok for r in results) else 1


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from pipwrap.commands.common import add_json, seconds

    parser.description = (
        "Probe every (or the named) profile's index in parallel: HTTP status, latency, "
        "PEP 691 JSON support, credentials. Exit 1 if any fails.")
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("--timeout", type=seconds(float, positive=True), default=10.0,
                        metavar="S", help="seconds per index (default: 10)")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    return main(args.names, timeout=args.timeout, as_json=bool(args.json))
