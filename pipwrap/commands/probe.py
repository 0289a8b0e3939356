"""`pipwrap test`: probe profiles' indexes in parallel and say clearly what is wrong."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from pipwrap.errors import PipwrapError
from pipwrap.profiles import config as config_mod
from pipwrap.profiles.credentials import password
from pipwrap.profiles.model import BUILTIN_URL, Profile
from pipwrap.profiles.schema import ca_file_problem
from pipwrap.redact import redact

PEP691 = "application/vnd.pypi.simple.v1+json"
# Where `pipwrap serve` listens by default, the built-in `local` profile's server.
_SERVE_ADDRESS = (urlsplit(BUILTIN_URL).hostname, urlsplit(BUILTIN_URL).port)


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
    note: str | None = None  # works, but worth knowing (a redirect, the canonical URL)
    # False for the built-in `local` when nobody chose it: shown, but its failure (serve
    # not running) does not fail the run.
    required: bool = True
    # Which of the profile's sources: "index-url", or "fallback N" (the fence asks them in
    # order and fails closed on any that cannot answer, so each one is probed).
    source: str = "index-url"


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


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = (62, 64)

def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def listed_projects(url: str, content_type: str, body: bytes) -> list[str]:
    """The project names an index root lists (normalized), in page order."""
    text = body.decode("utf-8", errors="replace")
    if content_type.split(";")[0].strip().lower() == PEP691:
        try:
            data = json.loads(text)
            return [_normalize(str(p["name"])) for p in data.get("projects", [])
                    if isinstance(p, dict) and p.get("name")]
        except (ValueError, AttributeError, TypeError):
            return []
    parser = _Links()
    parser.feed(text)
    found = []
    for href, label in parser.anchors:
        target = urlsplit(urljoin(url, href))
        segment = target.path.rstrip("/").rpartition("/")[2]
        if (segment and not _DIST.search(unquote(target.path))
                and _normalize(unquote(segment)) == _normalize(label.rstrip("/"))):
            found.append(_normalize(label.rstrip("/")))
    return found


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


class _OtherHost(Exception):
    """A redirect to another server (an upstream fallback): pip follows it, the probe
    stops there (it judges this index, not PyPI, and needs no network beyond it)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        if urlsplit(newurl)[:2] != urlsplit(req.full_url)[:2]:
            raise _OtherHost(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass(frozen=True)
class _Asker:
    """How one profile's requests are made: its login, the time allowed, and an opener
    whose TLS trusts what the fence trusts for it (the system's CAs plus its ca-file)."""

    auth: str | None
    timeout: float
    opener: urllib.request.OpenerDirector


def _opener(ca_file: str | None) -> urllib.request.OpenerDirector:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return urllib.request.build_opener(_SameHostRedirects,
                                       urllib.request.HTTPSHandler(context=context))


def _asker(profile: Profile, auth: str | None, timeout: float) -> _Asker | str:
    """How to ask ``profile``'s index, or why it cannot be asked (its ca-file is bad)."""
    # The fence reads the ca-file for https connections only; so does this.
    ca_file = profile.ca_file if urlsplit(profile.index_url).scheme == "https" else None
    problem = ca_file_problem(ca_file) if ca_file else None
    if problem is None:
        try:
            return _Asker(auth, timeout, _opener(ca_file))
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            problem = str(exc)
    return f"ca-file {ca_file}: {problem}"


def _fetch_final(url: str, ask: _Asker) -> tuple[int, str, bytes, str]:
    """(status, content type, body, the URL answered after same-host redirects)."""
    # Only http(s) reaches here: file:// is handled apart, config allows nothing else.
    request = urllib.request.Request(url, headers={  # noqa: S310
        "Accept": f"{PEP691}, text/html;q=0.1", "User-Agent": "pipwrap-test"})
    if ask.auth is not None:
        request.add_header("Authorization", ask.auth)
    with ask.opener.open(request, timeout=ask.timeout) as response:
        return (int(response.status), response.headers.get("Content-Type", ""),
                response.read(_BODY_LIMIT), str(response.geturl()))


def _fetch(url: str, ask: _Asker) -> tuple[int, str, bytes]:
    status, content_type, body, _ = _fetch_final(url, ask)
    return status, content_type, body


def project_url(index_url: str, name: str) -> str:
    """Where pip asks for one project: the index URL joined with the name, as pip's
    ``posixpath.join`` does (a missing trailing slash is added, nothing else changes)."""
    from urllib.parse import quote

    base = index_url if index_url.endswith("/") else index_url + "/"
    return f"{base}{quote(name)}/"


def _project_page(url: str, name: str, ask: _Asker) -> tuple[bool, str]:
    """Whether pip finds a project page for ``name`` under the index ``url``: (ok, what
    happened). A redirect to another server counts as found (pip follows it)."""
    where = project_url(url, name)
    try:
        _, content_type, body, final = _fetch_final(where, ask)
    except _OtherHost as exc:
        return True, f"{where} redirects to another index ({redact(exc.location)})"
    except urllib.error.HTTPError as exc:
        return False, f"pip asks for {where} and gets HTTP {exc.code} {exc.reason}"
    except (OSError, ValueError) as exc:
        return False, f"pip asks for {where}: {redact(str(exc))}"
    text = body.decode("utf-8", errors="replace")
    if content_type.split(";")[0].strip().lower() == PEP691:
        if '"files"' not in text:
            return False, f"{where} is not a project page (no PEP 691 \"files\")"
    elif "<html" not in text.lower() and "<a " not in text.lower() and text.strip():
        return False, f"{where} is not a project page"
    moved = f" (answered at {final})" if final.rstrip("/") != where.rstrip("/") else ""
    return True, f"{where} answers{moved}"


def _suggest(url: str, ask: _Asker) -> str | None:
    for candidate in _candidates(url):
        try:
            _, content_type, body = _fetch(candidate, ask)
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
               creds: str = "none", suggested: str | None = None,
               note: str | None = None) -> Result:
        return Result(profile.name, shown, ok, status,
                      round((time.monotonic() - start) * 1000, 1), json_ok, creds, reason,
                      suggested, note)

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
    ask = _asker(profile, auth, timeout)
    if isinstance(ask, str):
        return result(False, ask)
    try:
        status, content_type, body, final = _fetch_final(url, ask)
    except _OtherHost as exc:
        return result(False, f"the server sends {url} to another server "
                      f"({redact(exc.location)}); use that index's URL", creds=creds)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            why = "credentials rejected" if username is not None else "needs credentials"
            return result(False, f"HTTP {exc.code}: {why}", exc.code,
                          creds="rejected" if username is not None else "none")
        if exc.code == 404:
            # Some servers answer only project pages; pip needs nothing more.
            found, _ = _project_page(url, "pip", ask)
            if found:
                return result(True, "ok", exc.code, creds=creds,
                              note=f"{url} itself answers 404, but project pages answer")
        suggested = _suggest(url, ask) if exc.code == 404 else None
        return result(False, f"HTTP {exc.code} {exc.reason}", exc.code, creds=creds,
                      suggested=suggested)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return result(False, f"no answer within {timeout:g} s")
        if isinstance(reason, ConnectionRefusedError):
            if (parts.hostname, parts.port) == _SERVE_ADDRESS:
                return result(False, "connection refused: `pipwrap serve` is not running "
                              "(start it with: pipwrap serve)")
            return result(False, "connection refused (is the server running?)")
        if isinstance(reason, socket.gaierror):
            return result(False, f"cannot resolve host {parts.hostname!r}")
        if isinstance(reason, ssl.SSLCertVerificationError) and \
                reason.verify_code in _NAME_MISMATCH:
            # The CA is fine; the URL names the server by a name its certificate lacks
            # (serve prints 127.0.0.1, the certificate says the host name clients use).
            return result(False, f"the server's certificate does not hold the URL's host "
                          f"({reason.verify_message}); use a name from its "
                          f"subjectAltName in the URL (pipwrap set-url {profile.name} URL) "
                          f"or have the certificate made for {parts.hostname!r} too")
        if isinstance(reason, ssl.SSLCertVerificationError):
            how = (f"is ca-file {profile.ca_file} the CA that signed it?" if profile.ca_file
                   else "if the index has its own CA, give the profile its certificate: "
                   f"pipwrap set-url {profile.name} --ca-file CA.pem")
            return result(False, f"the server's certificate is not trusted "
                          f"({reason.verify_message or reason}); {how}")
        return result(False, f"cannot connect: {redact(str(reason))}")
    except (TimeoutError, socket.timeout):
        return result(False, f"no answer within {timeout:g} s")
    except (OSError, ValueError) as exc:
        return result(False, f"failed: {redact(str(exc))}")
    is_json = content_type.split(";")[0].strip() == PEP691
    creds = "accepted" if username is not None else "none"
    problem = judge(final, content_type, body)
    # pip never reads the root: it asks for INDEX/NAME/. So the verdict is that page's,
    # for a name the index lists (or "pip", which any index with a fallback answers).
    if problem is None:
        listed = listed_projects(final, content_type, body)
        found, what = _project_page(url, listed[0] if listed else "pip", ask)
        redirected = not _same_page(final, url)
        if found:
            return result(True, "ok", status, is_json, creds)
        if listed or redirected:
            # The root redirects elsewhere (serve's / -> /simple/), or a project it lists
            # is missing where pip looks: pip finds nothing through this URL.
            index = final if redirected else _suggest(url, ask)
            return result(False, f"pip would find nothing: {what}", status, is_json, creds,
                          index)
        return result(True, "ok", status, is_json, creds,
                      note="an index with no projects yet")
    suggested = _suggest(url, ask)
    name = "pip"
    if suggested is not None:
        try:
            _, s_type, s_body = _fetch(suggested, ask)
            name = (listed_projects(suggested, s_type, s_body) or ["pip"])[0]
        except (OSError, ValueError):
            pass
    found, what = _project_page(url, name, ask)
    if found:
        # pypiserver's front page: not an index, but it redirects project requests.
        return result(True, "ok", status, is_json, creds, note=(
            f"{url} is not an index page, but the server redirects pip's requests "
            f"({what})" + (f"; the index itself is {suggested}" if suggested else "")))
    return result(False, f"not a package index: {problem}", status, is_json, creds,
                  suggested)


def _same_page(a: str, b: str) -> bool:
    return urlsplit(a).path.rstrip("/") == urlsplit(b).path.rstrip("/")


def _sources(profile: Profile) -> list[tuple[str, Profile]]:
    """Each source of ``profile`` as something :func:`_probe` asks: the index with the
    profile's login, then each fallback with only its URL's own login (as the fence sends
    it) and the profile's ca-file (which the fence trusts for every source)."""
    found = [("index-url", profile)]
    for number, (url, shown) in enumerate(zip(profile.fallback, profile.shown_fallback,
                                              strict=True), start=1):
        found.append((f"fallback {number}", Profile(profile.name, url, shown,
                                                    ca_file=profile.ca_file)))
    return found


def main(names: list[str], *, timeout: float, as_json: bool) -> int:
    cfg = config_mod.load()
    # With no names: every profile, the built-in one included; it fails the run only when
    # it is the default (a config that never uses it is not broken by serve being off).
    chosen = [cfg.profile(n) for n in names] if names else [
        cfg.profiles[n] for n in sorted(cfg.profiles)]
    optional = set() if names else {n for n in cfg.builtin if n != cfg.default}
    asked = [(label, source) for profile in chosen for label, source in _sources(profile)]
    with ThreadPoolExecutor(max_workers=min(32, len(asked))) as pool:
        results = [replace(r, required=r.profile not in optional, source=label)
                   for (label, _), r in zip(
                       asked, pool.map(lambda each: _probe(each[1], timeout), asked),
                       strict=True)]
    several = {source.name for label, source in asked if label != "index-url"}
    passed = all(r.ok or not r.required for r in results)
    if as_json:
        # An object, like every other --json output, so that fields can be added later.
        report = {"config": cfg.path, "ok": passed, "results": [asdict(r) for r in results]}
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        width = max(len(r.profile) for r in results)
        for r in results:
            mark = "ok  " if r.ok else "FAIL" if r.required else "off "
            extra = []
            if r.status is not None:
                extra.append(f"HTTP {r.status}")
            if r.ok and r.url.startswith("http"):
                extra.append("PEP 691 JSON" if r.pep691_json else "HTML only")
            if r.credentials != "none":
                extra.append(f"credentials {r.credentials}")
            detail = ", ".join(extra) if r.ok else r.reason
            where = f"{r.source}: {r.url}" if r.profile in several else r.url
            print(f"{mark} {r.profile:<{width}}  {r.latency_ms:8.1f} ms  {where}  {detail}")
            if r.note:
                print(f"     note: {r.note}")
            if r.suggested_url and not r.ok and r.source != "index-url":
                print(f"     the index is probably at {r.suggested_url}; fix {r.source} in "
                      f"profile {r.profile!r}'s `fallback` list")
            elif r.suggested_url and not r.ok:
                print(f"     the index is probably at {r.suggested_url}; fix the profile "
                      f"with: pipwrap set-url {r.profile} {r.suggested_url}")
            elif "distribution files directly" in r.reason:
                print("     to serve a directory of packages as an index: pypi-server run "
                      "-p 8080 DIR, then use http://HOST:8080/simple/ (README: Host your "
                      "own index)")
    return 0 if passed else 1


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from pipwrap.commands.common import add_json, seconds

    parser.description = (
        "Probe every (or the named) profile's index, and each of its fallbacks, in "
        "parallel: HTTP status, latency, "
        "PEP 691 JSON support, credentials, and one project page below the URL as pip asks "
        "for it (URL/NAME/), so a server's root without /simple/ fails with the URL to use. "
        "TLS is verified as the fence verifies it: the system's CAs plus the profile's "
        "ca-file. Exit 1 if any fails; the built-in `local` counts only when it is the "
        "default or named (else a failure is marked 'off': serve is not running).")
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("--timeout", type=seconds(float, positive=True), default=10.0,
                        metavar="S", help="seconds per index (default: 10)")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    return main(args.names, timeout=args.timeout, as_json=bool(args.json))
