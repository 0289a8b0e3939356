"""What one session of the fence lets through: pure decisions, no I/O.

Allowed, and nothing else:

- a GET or HEAD under the profile's index URL (same scheme, host and port, path under the
  index's path);
- the redirect the index answers for a project page (a local-first index sends a name it
  does not hold to its fallback with a 303), the page it leads to, and that page's own
  redirects, for that project only;
- the file URLs (and their PEP 658 ``.metadata``) listed in pages the fence passed, with
  the page's sha256 to check the body against;
- distribution files the index's own repository serves beside it: same origin, under the
  parent of the index path (pypiserver's ``/packages/`` beside ``/simple/``; on a server
  hosting several repositories, ``/…/my-repo/files/`` but no other repository's);
- a POST to the profile's upload URL itself (what twine and ``uv publish`` send); reading
  there is decided like any other read, so an upload URL at the server's root (the
  built-in profile, ``pipwrap serve``) opens nothing beyond the index.

The session learns from responses (:meth:`Policy.saw_redirect`, :meth:`Policy.saw_page`),
so what is allowed grows only from what the index itself pointed to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from pipwrap.indexpage import IndexFile

INDEX = "index"          # under the index URL (not a project page)
INDEX_PAGE = "index-page"  # the index's page for one project
PAGE = "page"            # a page the index redirected to, for one project
FILE = "file"            # a file listed in a page the fence passed
METADATA = "metadata"    # its PEP 658 metadata
UPLOAD = "upload"        # a POST to the upload URL

# Said when a server on this machine does not answer: the quick start's index is
# `pipwrap serve` (the built-in `local` profile's), and forgetting to start it is the
# usual cause. One wording for the proxy and for the sources' decisions.
SERVE_HINT = "is `pipwrap serve` running? start it with: pipwrap serve"

_DEFAULT_PORTS = {"http": 80, "https": 443}
DISTRIBUTION_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".egg")


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_PROJECT_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def page_project(segment: str) -> str | None:
    """The project an index page's path segment names, as the server reads it: percent-
    escapes decoded, then PEP 503-normalized; None when that is no project name.

    Every rule (reserved, cooldown-exempt, which source holds it) is decided on this name.
    A server decodes ``/simple/%66oo/`` to foo, so a fence that matched the raw segment
    would decide on "%66oo" and pass foo's page past the rules for foo. Decoded rather than
    refused: a client may spell a name as it likes (``Foo_Bar``) and the index answers it;
    a segment that decodes to no project name at all (``%2F``, ``..``) is refused."""
    project = normalize_name(unquote(segment))
    return project if _PROJECT_NAME.fullmatch(project) else None


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{_host_for_url(self.host)}:{self.port}"


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def canonical(url: str) -> tuple[Origin, str] | None:
    """(origin, path with query) of an http(s) URL, without userinfo or fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    origin = Origin(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return origin, path


def canonical_url(url: str) -> str | None:
    found = canonical(url)
    if found is None:
        return None
    origin, path = found
    return f"{origin}{path}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    kind: str = ""
    reason: str = ""
    project: str | None = None
    sha256: frozenset[str] = frozenset()  # acceptable digests of the body (empty: unchecked)
    add_login: bool = False  # the fence adds the profile's login to this request


@dataclass
class Policy:
    index_url: str
    upload_url: str | None = None
    pages: dict[str, str] = field(default_factory=dict)       # canonical URL -> project
    files: dict[str, set[str]] = field(default_factory=dict)  # canonical URL -> sha256s
    metadata: dict[str, set[str]] = field(default_factory=dict)
    # The profile has several sources or a cooldown (fence/sources.py): the fence composes
    # each project page itself, and a distribution file passes only when a page it served
    # lists it, also on the index's own server (a file the cooldown hid stays out).
    composed: bool = False

    def __post_init__(self) -> None:
        index = canonical(self.index_url)
        if index is None and urlsplit(self.index_url).scheme.lower() == "file":
            # A file:// index is read from disk: no index traffic passes the fence (an
            # origin no URL has), only the upload URL if the profile has one.
            index = (Origin("file", "", 0), urlsplit(self.index_url).path or "/")
        if index is None:
            raise ValueError(f"the fence needs an http://, https:// or file:// index URL, "
                             f"got {urlunsplit(urlsplit(self.index_url)._replace(netloc=''))!r}")
        self._index_origin, path = index
        base = urlsplit(self.index_url)
        self._index_url_clean = urlunsplit(base._replace(
            netloc=base.netloc.rpartition("@")[2], path=base.path.rstrip("/") + "/",
            query="", fragment=""))
        self._index_path = path.split("?", 1)[0].rstrip("/") + "/"
        # The repository the index belongs to: the parent of its path.
        self._repository_root = self._index_path.rstrip("/").rpartition("/")[0] + "/"
        self._upload: tuple[Origin, str] | None = None
        if self.upload_url:
            upload = canonical(self.upload_url)
            if upload is None:
                raise ValueError("the fence needs an http:// or https:// upload URL")
            self._upload = (upload[0], upload[1].split("?", 1)[0].rstrip("/"))
        self._login_origins = {self._index_origin} | (
            {self._upload[0]} if self._upload else set())

    def project_page(self, project: str) -> str:
        """The profile's index page for ``project``, as pip and uv ask for it."""
        return urljoin(self._index_url_clean, f"{normalize_name(project)}/")

    def decide(self, method: str, url: str) -> Decision:
        found = canonical(url)
        if found is None:
            return Decision(False, reason="not an http:// or https:// URL")
        origin, path = found
        plain_path = path.split("?", 1)[0]
        key = f"{origin}{path}"
        add_login = origin in self._login_origins
        if method not in ("GET", "HEAD"):
            # Reading is the index's; the only other thing a session may send is an
            # upload, and twine and `uv publish` POST to exactly the upload URL.
            if method == "POST" and self._is_upload(origin, plain_path):
                return Decision(True, UPLOAD, add_login=add_login)
            where = "the profile's upload-url" if self._upload else \
                "an upload-url, and the profile has none"
            return Decision(False, reason=f"{method} is allowed only to {where}")
        # The index comes first, also where the upload URL is the same server's root
        # (pipwrap serve, the built-in profile): its pages' redirects are learned and its
        # files are checked against their sha256.
        if origin == self._index_origin and (
                plain_path.startswith(self._index_path) or plain_path + "/" == self._index_path):
            rest = plain_path[len(self._index_path):]
            hashes = frozenset(self.files.get(key, ()))
            if rest.endswith("/") and rest.count("/") == 1:
                project = page_project(rest[:-1])
                if project is None:
                    return Decision(False, reason=f"{unquote(rest[:-1])!r} is not a project "
                                                  "name (letters, digits, '.', '_', '-')")
                return Decision(True, INDEX_PAGE, project=project, sha256=hashes,
                                add_login=add_login)
            if self.composed and _is_distribution(plain_path):
                return self._listed(key, add_login)
            return Decision(True, INDEX, sha256=hashes, add_login=add_login)
        if origin == self._index_origin and plain_path.startswith(self._repository_root) \
                and "/../" not in plain_path + "/" and \
                _is_distribution(plain_path):
            if self.composed:
                return self._listed(key, add_login)
            listed = self.metadata.get(key) if plain_path.endswith(".metadata") else \
                self.files.get(key)
            return Decision(True, FILE, sha256=frozenset(listed or ()), add_login=add_login)
        if key in self.pages:
            return Decision(True, PAGE, project=self.pages[key], add_login=add_login)
        if key in self.files:
            return Decision(True, FILE, sha256=frozenset(self.files[key]), add_login=add_login)
        if key in self.metadata:
            return Decision(True, METADATA, sha256=frozenset(self.metadata[key]),
                            add_login=add_login)
        return Decision(False, reason="not under the profile's index, and no page the index "
                                      "served lists it")

    def _listed(self, key: str, add_login: bool) -> Decision:
        """A distribution file (or its metadata) of a composed profile: only as listed."""
        table = self.metadata if key.endswith(".metadata") else self.files
        if key in table:
            return Decision(True, METADATA if key.endswith(".metadata") else FILE,
                            sha256=frozenset(table[key]), add_login=add_login)
        return Decision(False, reason="no page the fence served lists it (the profile's "
                                      "sources and cooldown decide which files are offered)")

    def _is_upload(self, origin: Origin, plain_path: str) -> bool:
        """The upload URL itself (with or without its trailing slash), nothing under it."""
        if self._upload is None or origin != self._upload[0]:
            return False
        return plain_path.rstrip("/") == self._upload[1]

    def saw_redirect(self, decision: Decision, url: str, location: str) -> None:
        """The upstream answered ``url`` with a redirect to ``location``."""
        target = canonical_url(urljoin(url, location))
        if target is None:
            return
        if decision.kind in (INDEX_PAGE, PAGE) and decision.project:
            self.pages.setdefault(target, decision.project)
        elif decision.kind in (FILE, METADATA):
            # A file host redirecting to its storage: the same bytes, the same hash check.
            table = self.files if decision.kind == FILE else self.metadata
            table.setdefault(target, set()).update(decision.sha256)

    def saw_page(self, files: list[IndexFile], project: str) -> None:
        """``project``'s page the fence passed lists these files: they may be fetched,
        hash-checked; those whose names say they are another project's may not (see
        :func:`names_project`)."""
        for listed in files:
            key = canonical_url(listed.url)
            if key is None or not names_project(listed, project):
                continue
            digests = self.files.setdefault(key, set())
            if "sha256" in listed.hashes:
                digests.add(listed.hashes["sha256"])
            if listed.core_metadata is not None:
                meta = self.metadata.setdefault(key + ".metadata", set())
                if "sha256" in listed.core_metadata:
                    meta.add(listed.core_metadata["sha256"])


def _is_distribution(plain_path: str) -> bool:
    return plain_path.lower().removesuffix(".metadata").endswith(DISTRIBUTION_SUFFIXES)


def project_of_file(url: str) -> str | None:
    """The normalized project a distribution (or its ``.metadata``) URL names, or None."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return _project_of_name(name.removesuffix(".metadata"))


def _project_of_name(name: str) -> str | None:
    """The normalized project a wheel's or sdist's file name declares, or None."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if name.endswith(".whl"):
            return normalize_name(parse_wheel_filename(name)[0])
        return normalize_name(parse_sdist_filename(name)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def names_project(listed: IndexFile, project: str) -> bool:
    """Whether a file listed on ``project``'s page may be taken as that project's: its
    name (the page's ``filename`` and its URL's last segment, which uv and pip read
    respectively) names no other project.

    A page is the word of whoever serves it, and an upstream (any index a profile names, or
    a caching server's upstream behind it) may list another project's file on its own page:
    ``foo-9.9.9-py3-none-any.whl`` on ``helper``'s. pip shows it to no resolver asking for
    helper, but a direct-URL dependency (``foo @ https://.../foo-9.9.9-...whl``) fetches it,
    and the fence would pass it as listed, past the rules that decide foo (reserved, the
    first source that holds it, the cooldown's exemptions). So a file is kept only when its
    name reads as the page's project: parsed as pip and uv parse wheel and sdist names, or,
    for a name they cannot parse (a legacy version, a ``.tar.bz2``), as pip reads a page's
    links: the part before some ``-`` is the project's name."""
    project = normalize_name(project)
    url_name = unquote(urlsplit(listed.url).path.rsplit("/", 1)[-1])
    return all(_reads_as(name, project) for name in {listed.filename, url_name})


def _reads_as(filename: str, project: str) -> bool:
    parsed = _project_of_name(filename)
    if parsed is not None:
        return parsed == project
    return any(normalize_name(filename[:at]) == project
               for at, char in enumerate(filename) if char == "-")


def is_page_response(decision: Decision) -> bool:
    return decision.kind in (INDEX_PAGE, PAGE)
