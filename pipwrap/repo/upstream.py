"""``serve --cache``'s side towards the fallback index: one pooled HTTP client (urllib3).

What an upstream can do to the server, and what stops it here:

- hang or trickle (a byte every few seconds keeps every read timeout happy): a page fetch
  has an overall deadline, a file fetch a floor on its average rate (:class:`Deadline`);
- send a page of any size: pages over :data:`MAX_PAGE` are refused, read 64 KiB at a
  time, never whole into memory first;
- name any URL as a file or a redirect (an internal address read back to the client:
  SSRF): only http(s) URLs on the allowed hosts are fetched, at every redirect hop too;
- learn the login: it goes only to the fallback's own origin (scheme, host and port),
  never to a file host or a redirect elsewhere.

The login comes from a file or the environment (:func:`read_login`), never from the
command line, where ``ps`` shows it to every local user.
"""

from __future__ import annotations

import base64
import os
import stat
import time
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import urllib3

from pipwrap.errors import PipwrapError
from pipwrap.redact import redact
from pipwrap.repo import defaults

# The largest project pages on pypi.org (measured 2026-12: botocore 1.99 MB and numpy
# 1.93 MB as PEP 691 JSON, the HTML smaller) fit four times over; a page beyond that is
# an attack or a broken upstream, and parsing it would take ten times its size in memory.
MAX_PAGE = 8 * 1024 * 1024
TIMEOUT = defaults.CACHE_TIMEOUT  # connect, each read, and a whole page fetch
# A file may take longer than a page (a 1 GB wheel), but must keep coming: on average at
# least this fast after TIMEOUT seconds of grace.
FILE_FLOOR_RATE = 32 * 1024
REDIRECTS = 5
CHUNK = 256 * 1024
PASSWORD_ENV = "PIPWRAP_FALLBACK_PASSWORD"
# Where an index's pages send their files when that is another host.
FILE_HOSTS = {"pypi.org": "files.pythonhosted.org",
              "test.pypi.org": "test-files.pythonhosted.org"}


class Failed(Exception):
    """The upstream could not give what was asked (reason in ``str()``)."""


class Missing(Failed):
    """404 or 410: the upstream has no such thing."""


class NotAllowed(Failed):
    """A URL (or a redirect) to a scheme or host the cache does not fetch from."""


class Deadline(Failed):
    pass


@dataclass(frozen=True)
class Login:
    username: str
    password: str

    def header(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        port = 443 if scheme == "https" else 80
    return scheme, (parts.hostname or "").lower(), port


def _host_key(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_host(text: str) -> set[str]:
    """``--cache-allow-host HOST[:PORT]``: the ``host:port`` keys it allows (without a
    port: 80 and 443, the ports an http(s) URL without one means)."""
    parts = urlsplit("//" + text.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    host = (parts.hostname or "").lower()
    if not host or port == -1 or parts.path or parts.username or parts.password:
        raise PipwrapError(f"serve: --cache-allow-host {text!r}: expected a host name, "
                           "optionally with :PORT (files.example.com, 10.0.0.5:8081)")
    return {_host_key(host, port)} if port else {_host_key(host, 80), _host_key(host, 443)}


def default_hosts(upstream: str) -> set[str]:
    """The fallback's own host and port, and its known file host (pypi.org's files are on
    files.pythonhosted.org)."""
    _, host, port = _origin(upstream)
    allowed = {_host_key(host, port)}
    if host in FILE_HOSTS:
        allowed |= {_host_key(FILE_HOSTS[host], 443)}
    return allowed


def read_login(url: str, login_file: str | None,
               environ: dict[str, str] | os._Environ[str]) -> tuple[str, Login | None]:
    """The fallback URL without its user, and the login: the user from the URL, the
    password from ``login_file`` (its first line; ``USER:PASSWORD`` when the URL names no
    user) or from ``$PIPWRAP_FALLBACK_PASSWORD``. A password in the URL is refused: the
    URL is on the command line, and ``ps`` shows argv to every local user."""
    parts = urlsplit(url)
    if parts.password is not None:
        raise PipwrapError(
            f"serve: --fallback {redact(url)!r}: a password on the command line is visible "
            "to every user of this machine (ps); give the URL without it (the user name may "
            f"stay) and the password in ${PASSWORD_ENV} or in a file given with "
            "--fallback-login-file (docs/hosting-team.md)")
    user = unquote(parts.username) if parts.username is not None else None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host += f":{parts.port}"
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    from_env = environ.get(PASSWORD_ENV)
    if login_file is not None and from_env:
        raise PipwrapError(f"serve: both --fallback-login-file and ${PASSWORD_ENV} give a "
                           "password; keep one")
    if login_file is not None:
        line = _first_line(login_file)
        if user is not None:
            return bare, Login(user, line)
        name, colon, password = line.partition(":")
        if not colon or not name:
            raise PipwrapError(f"serve: --fallback-login-file {login_file}: expected "
                               "USER:PASSWORD on its first line (or only the password, "
                               "with the user in the --fallback URL)")
        return bare, Login(name, password)
    if from_env:
        if user is None:
            raise PipwrapError(f"serve: ${PASSWORD_ENV} is set but --fallback names no user; "
                               "name the user in the --fallback URL, before the host")
        return bare, Login(user, from_env)
    if user is not None:
        raise PipwrapError(f"serve: --fallback names the user {user!r} but no password was "
                           f"given; set ${PASSWORD_ENV} or use --fallback-login-file")
    return bare, None


def _first_line(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            data = handle.read(64 * 1024)
    except OSError as exc:
        raise PipwrapError(f"serve: --fallback-login-file {path}: "
                           f"{exc.strerror or exc}") from None
    try:
        line = data.decode("utf-8").lstrip("\ufeff").splitlines()[0].strip()
    except (UnicodeDecodeError, IndexError):
        line = ""
    if not line:
        raise PipwrapError(f"serve: --fallback-login-file {path}: no login on its first line")
    if status.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        import sys

        sys.stderr.write(f"pipwrap serve: warning: {path} can be read by other users; "
                         f"chmod 600 {path}\n")
    return line


class Response:
    """An upstream answer being read: ``status``, ``headers``, ``url`` (after redirects),
    ``size`` (Content-Length, None if not given); :meth:`chunk` under the deadline."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, url: str, deadline: float,
                 floor_rate: float | None, timeout: float) -> None:
        self.raw = raw
        self.status = raw.status
        self.headers = raw.headers
        self.url = url
        length = raw.headers.get("Content-Length")
        self.size = int(length) if length is not None and length.isdigit() else None
        if raw.headers.get("Content-Encoding", "identity").lower() != "identity":
            self.size = None  # the length of the encoded body, not of what is read
        self.received = 0
        self.done = raw.status == 304  # the body read to its end: the connection is reusable
        self._start = time.monotonic()
        self._deadline = deadline
        self._floor = floor_rate
        self._timeout = timeout

    def _limit(self) -> float:
        if self._floor is None:
            return self._deadline
        return self._start + self._timeout + self.received / self._floor

    def chunk(self) -> bytes:
        """The next bytes (b"" at the end); :class:`Deadline` when the upstream is too slow.
        ``read1`` returns what has arrived, so a trickle is seen between its bytes."""
        left = self._limit() - time.monotonic()
        if left <= 0:
            raise Deadline(self._too_slow())
        sock = getattr(getattr(self.raw, "connection", None), "sock", None)
        if sock is not None:  # no single wait beyond the deadline either
            sock.settimeout(min(self._timeout, max(left, 0.01)))
        try:
            data = self.raw.read1(CHUNK)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if time.monotonic() >= self._limit():
                raise Deadline(self._too_slow()) from None
            raise Failed(f"reading {redact(self.url)}: {_reason(exc)}") from None
        self.received += len(data)
        self.done = not data
        return bytes(data)

    def _too_slow(self) -> str:
        if self._floor is None:
            return (f"{redact(self.url)}: not complete within {self._timeout:g} s "
                    f"({self.received} bytes came)")
        return (f"{redact(self.url)}: slower than {self._floor // 1024:g} KiB/s "
                f"({self.received} bytes in {time.monotonic() - self._start:.0f} s)")

    def read_all(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            data = self.chunk()
            if not data:
                return bytes(body)
            body += data
            if len(body) > limit:
                raise Failed(f"{redact(self.url)}: page larger than {limit // 2**20} MiB; "
                             "refused")

    def close(self) -> None:
        if not self.done:  # never wait for the rest of an unread body
            self.raw.close()
        self.raw.release_conn()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return redact(str(reason))[:200] or type(exc).__name__


class Upstream:
    """The fallback index as the cache reaches it."""

    def __init__(self, url: str, login: Login | None, allowed_hosts: set[str],
                 timeout: float = TIMEOUT) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.login = login
        self.allowed_hosts = frozenset(allowed_hosts | default_hosts(self.url))
        self.timeout = timeout
        self._origin = _origin(self.url)
        # An operator's HTTP(S)_PROXY / NO_PROXY is how a server reaches out.
        from urllib.request import getproxies_environment, proxy_bypass

        self._proxies = getproxies_environment()
        self._bypass = proxy_bypass
        self._direct = urllib3.PoolManager(num_pools=16, maxsize=8, retries=False)
        self._via: dict[str, urllib3.ProxyManager] = {}

    def allowed(self, url: str) -> bool:
        scheme, host, port = _origin(url)
        return scheme in ("http", "https") and port > 0 \
            and _host_key(host, port) in self.allowed_hosts

    def _manager(self, url: str) -> urllib3.PoolManager:
        scheme, host, _ = _origin(url)
        proxy = self._proxies.get(scheme)
        if not proxy or self._bypass(host):
            return self._direct
        manager = self._via.get(proxy)
        if manager is None:
            manager = self._via[proxy] = urllib3.ProxyManager(proxy, num_pools=16, maxsize=8,
                                                              retries=False)
        return manager

    def get(self, url: str, headers: dict[str, str] | None = None, *,
            file: bool = False) -> Response:
        """GET ``url``, redirects followed only to allowed http(s) URLs. A page must be
        complete within the timeout; a file keep to :data:`FILE_FLOOR_RATE`. Raises
        :class:`Missing` (404/410), :class:`NotAllowed`, :class:`Deadline`, :class:`Failed`
        (other statuses but 200 and 304, connection errors)."""
        deadline = time.monotonic() + self.timeout
        for _ in range(REDIRECTS + 1):
            if not self.allowed(url):
                raise NotAllowed(f"{redact(url)}: not an http(s) URL on an allowed host "
                                 f"({', '.join(sorted(self.allowed_hosts))}; "
                                 "--cache-allow-host adds one)")
            sent = dict(headers or {})
            if self.login is not None and _origin(url) == self._origin:
                sent["Authorization"] = self.login.header()
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline(f"{redact(url)}: no answer within {self.timeout:g} s")
            try:
                raw = self._manager(url).urlopen(
                    "GET", url, headers=sent, redirect=False, retries=False,
                    preload_content=False,
                    timeout=urllib3.Timeout(connect=min(self.timeout, left),
                                            read=min(self.timeout, left)))
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                raise Failed(_reason(exc)) from None
            response = Response(raw, url, deadline, FILE_FLOOR_RATE if file else None,
                                self.timeout)
            if raw.status in (301, 302, 303, 307, 308) and raw.headers.get("Location"):
                target = urljoin(url, raw.headers["Location"])
                raw.close()  # its body is not waited for
                raw.release_conn()
                url = target
                continue
            if raw.status in (200, 304):
                return response
            response.raw.close()
            response.raw.release_conn()
            if raw.status in (404, 410):
                raise Missing(f"{redact(url)}: HTTP {raw.status}")
            if raw.status in (401, 403) and "Authorization" in sent:
                # Reached, and the operator's login refused: say where that login is set.
                raise Failed(f"HTTP {raw.status}: the upstream refused this server's login "
                             "(--fallback-login-file, PIPWRAP_FALLBACK_PASSWORD)")
            if raw.status == 401:
                raise Failed("HTTP 401: the upstream wants a login (--fallback-login-file, "
                             "PIPWRAP_FALLBACK_PASSWORD)")
            raise Failed(f"HTTP {raw.status}")
        raise Failed(f"{redact(url)}: more than {REDIRECTS} redirects")
