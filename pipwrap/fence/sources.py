"""Which of a profile's sources answers for a project, and which of its files are offered:
pure decisions over pages someone else fetched (the proxy, or ``pipwrap explain``).

The rules (issue 24; docs/fence.md, *Several sources*):

- the sources are tried in order, per project; the first whose page for the project
  exists wins, and only its files are offered;
- only a definite "not found" (404, 410) moves on to the next source; any other outcome
  (no answer, a timeout, 5xx, 401/403, a page that cannot be read) fails closed: an
  attacker who can make the first source slow must not get the fallback's answer;
- a reserved name is never taken from a fallback, nor from another origin the first source
  redirects it to (a local-first server's own fallback: pypiserver's ``--fallback-url``,
  ``pipwrap serve --fallback``); such a redirect is not even followed, so the fallback never
  hears the private name. A redirect within the source's origin (``/Foo/`` -> ``/foo/``)
  is fine. For other names, a page reached on another origin is the source's answer (a
  server-side fallback), and the cooldown applies to it with no exemption for an undated
  page: ``doctor`` cannot have said that origin is outside the cooldown;
- nor is a reserved name taken from a page the first source marks as fetched from its own
  upstream (``X-Pipwrap-Origin: upstream``: ``serve --cache``, ``repo nginx-conf``'s
  fallback): a caching server answers 200 for every name, so only the mark says the page
  is not the team's own. A third-party cache (Artifactory, devpi) sends no mark and
  cannot be told apart;
- under a cooldown, a file whose PEP 700 ``upload-time`` is newer than now minus the
  cooldown is hidden (except for exempt names), on every source. A file without an upload
  time on a page that dates other files is hidden too (fail closed); a page that dates no
  file at all (HTML, a static tree) puts its source outside the cooldown for that project
  (``doctor`` and ``explain`` say so; see :func:`_cooldown` for why).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol
from urllib.parse import unquote, urljoin, urlsplit

from pipwrap.fence.policy import SERVE_HINT, canonical, names_project
from pipwrap.indexpage import FROM_UPSTREAM, IndexFile, PageError, parse
from pipwrap.redact import redact
from pipwrap.sourcerules import duration_seconds, matches, normalize_name

# What the fence asks a source for: PEP 691 JSON first (only JSON carries upload times).
ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
          "text/html;q=0.01")
NOT_FOUND = frozenset({404, 410})

OK = 200
REFUSED = 403      # a rule refused the project (reserved, nothing left after the cooldown)
FAILED = 502       # a source failed: closed, the next one is not asked


@dataclass(frozen=True)
class Rules:
    """A profile's sources and rules; ``sources[0]`` is its index URL. URLs may hold a
    login (a fallback's ``user:pass@``): messages show them through :func:`redact`."""

    sources: tuple[str, ...]
    reserved: tuple[str, ...] = ()
    cooldown: str | None = None
    cooldown_exempt: tuple[str, ...] = ()

    @property
    def cooldown_seconds(self) -> int | None:
        return duration_seconds(self.cooldown) if self.cooldown else None

    def name(self, number: int) -> str:
        """How messages call source ``number``: "the first source (URL)", "fallback 2 (URL)";
        "the index (URL)" when it is the only one."""
        what = "the index" if len(self.sources) == 1 else \
            "the first source" if number == 0 else f"fallback {number}"
        return f"{what} ({redact(self.sources[number])})"


@dataclass(frozen=True)
class Fetched:
    """One source's answer for a project page, after any redirects."""

    url: str                  # where the page was read (file URLs resolve against it)
    status: int | None        # None: no HTTP answer at all
    content_type: str | None = None
    body: bytes = b""
    error: str = ""           # why there is no usable answer
    # The first URL on another origin (scheme, host, port) than the source's that a
    # redirect led to, followed or not (see :func:`read_page`'s ``same_origin_only``).
    elsewhere: str | None = None
    # An answer on the way said the source took the page from its upstream
    # (:data:`pipwrap.indexpage.ORIGIN_HEADER`): it does not hold the project itself.
    from_upstream: bool = False


class Fetch(Protocol):
    """Source ``number``'s page at ``url``; ``same_origin_only``: a redirect to another
    origin is not followed (the answer is the redirect, with ``elsewhere`` set)."""

    def __call__(self, number: int, url: str, same_origin_only: bool = False) -> Fetched: ...


@dataclass
class Outcome:
    project: str
    status: int = 404                    # for the client: OK, 404, REFUSED or FAILED
    source: int | None = None            # the source that answered
    page_url: str | None = None
    files: list[IndexFile] = field(default_factory=list)   # offered
    hidden: list[tuple[IndexFile, str]] = field(default_factory=list)  # by the cooldown
    steps: list[str] = field(default_factory=list)  # each source asked and its answer
    refusal: str | None = None           # the rule, for the session's report
    redirected: str | None = None        # the other origin the answering source sent us to
    note: str | None = None              # a report line about files hidden (not a refusal)
    undated = False                      # the page dates no file: outside the cooldown
    failed: tuple[int, int | None] | None = None  # (source, HTTP status) that failed


def _under(url: str, source: str) -> bool:
    """Whether ``url`` is on ``source``'s host and under its path (a redirect elsewhere,
    even to another repository of the same server, leaves the source)."""
    found, home = canonical(url), canonical(source)
    if found is None or home is None or found[0] != home[0]:
        return False
    return found[1].startswith(home[1].split("?", 1)[0].rstrip("/") + "/")


def page_url(source: str, project: str) -> str:
    """Source's page for ``project``, as pip and uv ask for it."""
    return urljoin(source.rstrip("/") + "/", normalize_name(project) + "/")


def source_login(source: str) -> tuple[str, str] | None:
    """The ``user:pass@`` (or bare ``TOKEN@``) a fallback URL holds, or None."""
    parts = urlsplit(source)
    if parts.username is None:
        return None
    return unquote(parts.username), unquote(parts.password or "")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer to a page request (``hop`` of :func:`read_page`)."""

    status: int
    location: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    body: bytes = b""
    origin: str | None = None   # its :data:`pipwrap.indexpage.ORIGIN_HEADER`, if any


class NoAnswer(Exception):
    """A page request got no HTTP answer (refused, timed out, cut, too large...)."""


MAX_HOPS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def read_page(source: str, url: str, login: tuple[str, str] | None,
              hop: Callable[[str, dict[str, str]], Answer],
              same_origin_only: bool = False) -> Fetched:
    """Source's page at ``url``, as the fence and ``explain`` read it: JSON preferred,
    redirects followed (the source's own answer, as a local-first index's 303 to its
    fallback is; ``elsewhere`` says where it left the source's origin), ``login`` sent to
    the source's own origin only. With ``same_origin_only`` a redirect to another origin
    is not followed: the answer is that redirect. ``hop(url, headers)`` sends one GET."""
    home = canonical(source)
    parts = urlsplit(url)
    page = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    elsewhere: str | None = None
    marked = False
    for _ in range(MAX_HOPS):
        found = canonical(page)
        if found is None:
            return Fetched(page, None, error="redirected off http(s)", elsewhere=elsewhere)
        headers = {"Accept": ACCEPT, "Accept-Encoding": "identity"}
        if login is not None and home is not None and found[0] == home[0]:
            token = base64.b64encode(":".join(login).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            answer = hop(page, headers)
        except NoAnswer as exc:
            return Fetched(page, None, error=f"no answer: {exc}", elsewhere=elsewhere)
        # Any hop's mark counts: nginx marks its redirect to the fallback, serve the page.
        marked = marked or (answer.origin or "").strip().lower() == FROM_UPSTREAM
        if answer.status in REDIRECTS and answer.location:
            target = urljoin(page, answer.location)
            moved = canonical(target)
            if elsewhere is None and (moved is None or home is None or moved[0] != home[0]):
                if same_origin_only:
                    return Fetched(page, answer.status, answer.content_type, elsewhere=target,
                                   from_upstream=marked)
                elsewhere = target
            page = target
            continue
        if (answer.content_encoding or "identity").strip().lower() != "identity":
            return Fetched(page, None, error="an encoded page", elsewhere=elsewhere)
        return Fetched(page, answer.status, answer.content_type, answer.body, elsewhere=elsewhere,
                       from_upstream=marked)
    return Fetched(page, None, error="too many redirects", elsewhere=elsewhere)



def _on_loopback(url: str) -> bool:
    """Whether ``url``'s server is this machine (the built-in `local` profile's
    ``pipwrap serve``, or another one started here)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def compose(project: str, rules: Rules, fetch: Fetch, now: float) -> Outcome:
    """Ask the sources in order (``fetch(number, url, same_origin_only)``) and decide what
    is served."""
    name = normalize_name(project)
    outcome = Outcome(name)
    reserved = matches(name, rules.reserved)
    for number, source in enumerate(rules.sources):
        if number > 0 and reserved is not None:
            outcome.status = REFUSED
            outcome.refusal = (f"{name!r} is reserved (pattern {reserved!r}) and "
                               f"{rules.name(0)} has no such project; a reserved name is "
                               "never taken from a fallback")
            return outcome
        answer = fetch(number, page_url(source, name), reserved is not None)
        if reserved is not None and answer.elsewhere is not None:
            # A local-first server's 303 to its own upstream is a fallback all the same:
            # the name the team reserved must not come from there (dependency confusion).
            elsewhere = redact(answer.elsewhere)
            outcome.status = REFUSED
            outcome.refusal = (f"{name!r} is reserved (pattern {reserved!r}) and "
                               f"{rules.name(number)} redirected it elsewhere ({elsewhere}), "
                               "a fallback of its own; a reserved name is only taken from "
                               "its source's own origin")
            outcome.steps.append(f"{rules.name(number)}: redirects to another origin "
                                 f"({elsewhere}): not followed for a reserved name")
            return outcome
        if answer.elsewhere is not None:
            outcome.redirected = redact(answer.elsewhere)
            outcome.steps.append(f"{rules.name(number)}: redirects to another origin "
                                 f"({outcome.redirected}), a server-side fallback: its answer "
                                 "counts as this source's, under the cooldown")
        if answer.status in NOT_FOUND:
            then = "the next source is asked" if reserved is None else \
                f"reserved (pattern {reserved!r}): no fallback is asked"
            if number + 1 == len(rules.sources):
                then = "no further source"
            outcome.steps.append(f"{rules.name(number)}: HTTP {answer.status}, no such "
                                 f"project; {then}")
            continue
        if reserved is not None and answer.status == OK and \
                not _under(answer.url, source):
            # A local-first index (pypiserver --fallback-url, serve --fallback) answers a
            # name it lacks with a redirect to the public index: that page is not the
            # first source's, and a reserved name is never taken from elsewhere.
            outcome.status = REFUSED
            outcome.refusal = (f"{name!r} is reserved (pattern {reserved!r}) and "
                               f"{rules.name(number)} redirected it elsewhere "
                               f"({redact(answer.url)}); a reserved name is taken only from "
                               "under the first source's own URL")
            outcome.steps.append(f"{rules.name(number)}: redirected elsewhere: refused")
            return outcome
        if reserved is not None and answer.status == OK and answer.from_upstream:
            # A caching local-first server (serve --cache) answers 200 for every name,
            # fetching what it does not hold from its upstream: a fallback all the same.
            outcome.status = REFUSED
            outcome.refusal = (f"{name!r} is reserved (pattern {reserved!r}) and "
                               f"{rules.name(number)} does not hold it: its page came from "
                               "that server's own upstream (X-Pipwrap-Origin: upstream), a "
                               "fallback of its own; a reserved name is never taken from a "
                               "fallback")
            outcome.steps.append(f"{rules.name(number)}: answers from its own upstream (a "
                                 "caching server's fallback): refused for a reserved name")
            return outcome
        if answer.status != OK:
            why = f"HTTP {answer.status}" if answer.status is not None else \
                (answer.error or "no answer")
            outcome.status, outcome.failed = FAILED, (number, answer.status)
            outcome.refusal = f"{rules.name(number)} failed for {name!r} ({why})"
            if len(rules.sources) > 1:
                outcome.refusal += "; the sources fail closed: only a 404 or 410 moves on " \
                    "to the next"
            if answer.status is None and _on_loopback(source):
                outcome.refusal += f"; {SERVE_HINT}"
            outcome.steps.append(f"{rules.name(number)}: {why}: fails closed")
            return outcome
        try:
            listed = parse(answer.body, answer.content_type, answer.url)
        except PageError as exc:
            outcome.status = FAILED
            outcome.refusal = (f"{rules.name(number)} sent a page for {name!r} that cannot "
                               f"be read ({exc}); the sources fail closed")
            outcome.steps.append(f"{rules.name(number)}: unreadable page: fails closed")
            return outcome
        outcome.status, outcome.source, outcome.page_url = OK, number, answer.url
        outcome.steps.append(f"{rules.name(number)}: has {name!r} ({len(listed)} file"
                             f"{'' if len(listed) == 1 else 's'})")
        # A page may list another project's file (helper's listing foo-9.9.9...whl): it
        # would pass as listed, for a direct-URL dependency to fetch, past the rules that
        # decide foo (policy.names_project). It is not served, from any source.
        foreign = [record.filename for record in listed if not names_project(record, name)]
        if foreign:
            listed = [record for record in listed if names_project(record, name)]
            outcome.steps.append(f"left out {len(foreign)} file(s) named for another project: "
                                 + ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else ""))
        _cooldown(outcome, listed, rules, now)
        return outcome
    outcome.steps.append("no source has it")
    return outcome


def _cooldown(outcome: Outcome, listed: list[IndexFile], rules: Rules, now: float) -> None:
    seconds = rules.cooldown_seconds
    if seconds is None or matches(outcome.project, rules.cooldown_exempt) is not None:
        outcome.files = listed
        return
    if listed and outcome.redirected is None and \
            all(record.upload_time is None for record in listed):
        # A page with no upload time at all (HTML, or a static tree's JSON without PEP
        # 700): its source is outside the cooldown, which cannot date anything there. The
        # cooldown guards against a release just published on an honest public index
        # (which dates its files); a source that lies could fake the times anyway. doctor
        # and explain say so; a file missing its time on a page that dates the others is
        # hidden (below).
        outcome.files = listed
        outcome.undated = True
        return
    cutoff = now - seconds
    for record in listed:
        uploaded = upload_timestamp(record.upload_time)
        if uploaded is None:
            outcome.hidden.append((record, "no upload time, on a page another origin answered"
                                   if outcome.redirected is not None else
                                   "no upload time, where the page dates other files"))
        elif uploaded > cutoff:
            outcome.hidden.append((record, f"uploaded {record.upload_time}"))
        else:
            outcome.files.append(record)
    if not outcome.hidden:
        return
    shown = "; ".join(f"{r.filename} ({why})" for r, why in outcome.hidden[:5])
    more = f" and {len(outcome.hidden) - 5} more" if len(outcome.hidden) > 5 else ""
    line = (f"cooldown {rules.cooldown} hides {len(outcome.hidden)} file(s) of "
            f"{outcome.project!r}: {shown}{more}")
    if outcome.files:
        outcome.note = line
        return
    outcome.status = REFUSED
    outcome.refusal = f"{line}: none is left"


_ISO_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?"
                       r"\s*(Z|[+-]\d\d:?\d\d)?", re.IGNORECASE)


def upload_timestamp(text: str | None) -> float | None:
    """Seconds since the epoch of a PEP 700 ``upload-time`` (ISO 8601; UTC when no zone is
    given), or None when there is none or it cannot be read."""
    if not text:
        return None
    found = _ISO_TIME.fullmatch(text.strip())
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                          int(second or 0), tzinfo=timezone.utc)
    except ValueError:
        return None
    offset = 0
    if zone and zone.upper() != "Z":
        digits = zone.replace(":", "")
        offset = (int(digits[1:3]) * 60 + int(digits[3:5])) * 60 * (-1 if digits[0] == "-" else 1)
    return moment.timestamp() - offset + (float(f"0.{fraction}") if fraction else 0.0)


def prefers_json(accept: str | None) -> bool:
    """Whether a client's Accept header prefers PEP 691 JSON to HTML (q-values honoured)."""
    best_json, best_html = 0.0, 0.0
    for part in (accept or "").split(","):
        kind, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = kind.strip().lower()
        if kind == "application/vnd.pypi.simple.v1+json":
            best_json = max(best_json, quality)
        elif kind in ("application/vnd.pypi.simple.v1+html", "text/html", "*/*"):
            best_html = max(best_html, quality)
    return best_json > 0 and best_json >= best_html


def versions(files: list[IndexFile]) -> list[str]:
    """PEP 700 ``versions`` of a composed page: those its files' names carry."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    found: dict[str, None] = {}
    for record in files:
        try:
            version = parse_wheel_filename(record.filename)[1] if record.filename.endswith(
                ".whl") else parse_sdist_filename(record.filename)[1]
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
        found[str(version)] = None
    return list(found)
