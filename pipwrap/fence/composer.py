"""How the fence reads project pages on its own: a lock file's files (``_learn``) and the
pages it composes from a profile's several sources (fence/sources.py decides; this module
fetches and serves). A mixin of the proxy's client connection, which owns the upstream
connections (``_exchange``) and the client socket (``respond``, ``send``).
"""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Iterator
from typing import BinaryIO, Protocol
from urllib.parse import urljoin, urlsplit

from pipwrap import indexpage, pagerender
from pipwrap.fence import http1, sources
from pipwrap.fence import policy as policy_mod
from pipwrap.fence.http1 import Closed, Headers
from pipwrap.fence.session import Session, is_login_refused, login_refused

MAX_PAGE = 64 * 1024 * 1024
REDIRECTS = sources.REDIRECTS
# Redirects followed when the fence reads an index page on its own (index -> fallback).
MAX_LEARN_HOPS = sources.MAX_HOPS


class Upstream(Protocol):
    rfile: BinaryIO
    reusable: bool


def fallback_login(session: Session, origin: policy_mod.Origin) -> tuple[str, str] | None:
    """The login of the fallback on ``origin``, for its files (the index's is the
    profile's own, added by the policy's ``add_login``)."""
    if session.rules is None:
        return None
    for source in session.rules.sources[1:]:
        found = policy_mod.canonical(source)
        login = sources.source_login(source)
        if found is not None and found[0] == origin and login is not None:
            return login
    return None


def _basic(login: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(":".join(login).encode()).decode()


class PageReader:
    """The proxy's client connection, seen from here."""

    def _exchange(self, origin: policy_mod.Origin, session: Session, head: bytes,
                  body: Iterator[bytes], length: int | None, method: str,
                  ) -> tuple[Upstream, tuple[str, Headers]]:
        raise NotImplementedError

    def respond(self, status: str, body: bytes, extra: list[tuple[str, str]] = (),  # type: ignore[assignment]
                close: bool = False) -> None:
        raise NotImplementedError

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def _learn(self, url: str, session: Session) -> bool:
        """Read the profile's index page for the project a file URL names, as a client
        would have, so that a file a lock file names is allowed exactly when the index
        (or the fallback it redirects to for that project) lists it, with its sha256.

        A lock file records the file URLs the resolver saw, and an installer reading it
        (``uv sync --frozen``, a teammate's CI) asks for those files without the pages.
        Once per project and session; True when a page was read.
        """
        project = policy_mod.project_of_file(url)
        if project is None:
            return False
        with session.lock:
            if project in session.learned:
                return False
            session.learned.add(project)
        if session.rules is not None:
            # The page the composition picks for that project, as a client would be served.
            outcome = self._compose(project, session)
            if outcome.refusal:
                session.report(f"pipwrap fence: refused {url}: {outcome.refusal}")
            return outcome.status == sources.OK
        page = session.policy.project_page(project)
        for _ in range(MAX_LEARN_HOPS):
            with session.lock:
                decision = session.policy.decide("GET", page)
            found = policy_mod.canonical(page)
            if not decision.allowed or not policy_mod.is_page_response(decision) or \
                    found is None:
                return False
            origin, path = found
            lines = [f"GET {path} HTTP/1.1", f"Host: {urlsplit(page).netloc.rpartition('@')[2]}",
                     "Accept: application/vnd.pypi.simple.v1+json, "
                     "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",
                     "Accept-Encoding: identity"]
            if decision.add_login and session.login is not None:
                token = base64.b64encode(":".join(session.login).encode()).decode()
                lines.append(f"Authorization: Basic {token}")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            try:
                status, headers, data = self._get(origin, session, head)
            except sources.NoAnswer:
                return False
            if is_login_refused(session, decision, status):
                session.report(login_refused(session, "GET", page, status)[1])
                return False
            location = headers.get("location")
            if status in REDIRECTS and location:
                with session.lock:
                    session.policy.saw_redirect(decision, page, location)
                page = urljoin(page, location)
                continue
            if status != 200 or (headers.get("content-encoding") or "identity").strip() \
                    .lower() != "identity":
                return False
            try:
                files = indexpage.parse(bytes(data), headers.get("content-type"), page)
            except indexpage.PageError:
                return False
            with session.lock:
                session.policy.saw_page(files, project)
            return True
        return False


    def _get(self, origin: policy_mod.Origin, session: Session, head: bytes,
             ) -> tuple[int, Headers, bytes]:
        """(status, headers, body) of a GET the fence sends on its own; no answer (or a
        body over 64 MB) raises :class:`sources.NoAnswer`."""
        try:
            upstream, (status_line, headers) = self._exchange(
                origin, session, head, iter(()), 0, "GET")
            status = int(status_line.split(" ", 2)[1])
            chunks, _ = http1.body(upstream.rfile, headers, response=True)
            data = bytearray()
            for chunk in chunks:
                data += chunk
                if len(data) > MAX_PAGE:
                    upstream.reusable = False
                    raise sources.NoAnswer("a page larger than 64 MB")
        except (OSError, ssl.SSLError, Closed, IndexError, ValueError) as exc:
            raise sources.NoAnswer(str(exc)) from None
        if (headers.get("connection") or "").lower() == "close":
            upstream.reusable = False
        return status, headers, bytes(data)

    def _fetch_page(self, session: Session, number: int, url: str,
                    same_origin_only: bool = False) -> sources.Fetched:
        """Source ``number``'s page at ``url``, over the connection's upstreams."""
        rules = session.rules
        source = rules.sources[number] if rules is not None else url
        login = session.login if number == 0 else sources.source_login(source)

        def hop(page: str, headers: dict[str, str]) -> sources.Answer:
            found = policy_mod.canonical(page)
            if found is None:
                raise sources.NoAnswer("not an http(s) URL")
            origin, path = found
            lines = [f"GET {path} HTTP/1.1", f"Host: {urlsplit(page).netloc}",
                     *(f"{k}: {v}" for k, v in headers.items())]
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            status, response, data = self._get(origin, session, head)
            return sources.Answer(status, response.get("location"),
                                  response.get("content-type"),
                                  response.get("content-encoding"), data,
                                  response.get(indexpage.ORIGIN_HEADER))

        return sources.read_page(source, url, login, hop, same_origin_only)

    def _compose(self, project: str, session: Session) -> sources.Outcome:
        """What the profile's sources serve for ``project``; its files become allowed."""
        rules = session.rules
        if rules is None:  # only called for a composed session
            raise ValueError("no sources to compose")
        outcome = sources.compose(
            project, rules,
            lambda number, url, same_origin_only=False: self._fetch_page(
                session, number, url, same_origin_only),
            time.time())
        with session.lock:
            session.policy.saw_page(outcome.files, outcome.project)
        return outcome

    def _serve_composed(self, method: str, url: str, headers: Headers, project: str,
                        session: Session) -> bool:
        """Answer the index's page for ``project`` with the page the sources compose."""
        outcome = self._compose(project, session)
        if outcome.status == sources.OK:
            if outcome.note:
                session.report(f"pipwrap fence: {outcome.note}")
            body, content_type = pagerender.project_page(
                outcome.project, outcome.files, sources.versions(outcome.files),
                as_json=sources.prefers_json(headers.get("accept")))
            head = ["HTTP/1.1 200 OK", f"Content-Type: {content_type}",
                    f"Content-Length: {len(body)}", "Cache-Control: no-store"]
            self.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                      + (b"" if method == "HEAD" else body))
            return True
        if outcome.status == 404:
            self.respond("404 Not Found", f"no source of the profile has {project!r}\n".encode())
            return True
        message = f"pipwrap fence: refused {method} {url}: {outcome.refusal}"
        session.report(message)
        if outcome.failed is not None and outcome.failed[0] == 0 and \
                outcome.failed[1] in (401, 403) and (outcome.failed[1] == 401 or session.login):
            # Said as for any request the fence adds the profile's login to: which login,
            # and where its password comes from.
            session.report(login_refused(session, method, url, outcome.failed[1] or 401)[1])
        status = "403 Forbidden" if outcome.status == sources.REFUSED else "502 Bad Gateway"
        self.respond(status, (message + "\n").encode())
        return True
