"""The fence's loopback forward proxy: absolute-form HTTP and CONNECT with TLS terminated.

One thread per client connection with blocking sockets. Measured on this 2-core machine
(benchmarks/bench_fence.py): a 200 MB file passes at several hundred MB/s over plain HTTP,
well above what an index serves, and the code stays a straight read of HTTP/1.1 that
works on every Python pipwrap supports (asyncio's server-side ``start_tls`` on streams is
3.11+). Every request, also inside a CONNECT tunnel, is decided on its full URL by the
session's :class:`~pipwrap.fence.policy.Policy`.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import socket
import ssl
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO
from urllib.parse import urlsplit

from pipwrap import indexpage
from pipwrap.fence import http1, upload
from pipwrap.fence import policy as policy_mod
from pipwrap.fence.certificates import LeafFactory
from pipwrap.fence.composer import MAX_PAGE, REDIRECTS, PageReader, fallback_login
from pipwrap.fence.http1 import BLOCK, HOP_BY_HOP, Closed, Headers, read_head
from pipwrap.fence.policy import Decision
from pipwrap.fence.session import (
    SERVER_REASON_MAX,
    Session,
    is_login_refused,
    login_refused,
    server_reason,
)

IDLE_TIMEOUT = 300.0
OUTDATED_PHRASE = "Config changed since pipwrap env: run pipwrap env again"


# The request headers a package client needs; every other header is dropped. A client's
# word on the host or path it asked for steers what a server answers (pypiserver builds
# its redirects from X-Forwarded-Host, and the fence learns a project's fallback from a
# redirect), and a list of what to drop loses to spelling: X_Forwarded_Host reaches a
# WSGI server as HTTP_X_FORWARDED_HOST. Range is not passed either: a file is always
# fetched whole, so its sha256 can be checked (a 206 could not be).
_PASSED_REQUEST_HEADERS = frozenset({
    "accept", "accept-language", "user-agent", "content-type", "cache-control", "pragma",
    "if-none-match", "if-modified-since",
})


class Upstream:
    def __init__(self, origin: policy_mod.Origin, context: ssl.SSLContext | None) -> None:
        sock = socket.create_connection((origin.host, origin.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=origin.host)
        self.sock = sock
        self.rfile: BinaryIO = sock.makefile("rb", buffering=BLOCK)  # type: ignore[assignment]
        self.reusable = True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.rfile.close()
            self.sock.close()


class Proxy:
    """Serves client connections; ``sessions`` maps a token to its :class:`Session`."""

    def __init__(self, sessions: dict[str, Session], leaves: LeafFactory,
                 activity: Callable[[int], None] = lambda delta: None) -> None:
        self.sessions = sessions
        self.leaves = leaves
        self.activity = activity
        self._contexts: dict[str | None, ssl.SSLContext] = {}
        self._contexts_lock = threading.Lock()

    def upstream_context(self, ca_file: str | None) -> ssl.SSLContext:
        with self._contexts_lock:
            context = self._contexts.get(ca_file)
            if context is None:
                context = ssl.create_default_context()
                if ca_file:
                    context.load_verify_locations(ca_file)
                self._contexts[ca_file] = context
            return context

    def serve_forever(self, listener: socket.socket, inside: bool = False) -> None:
        """``inside``: the listener is the one in the network namespace (fence/netns.py)."""
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn, inside), daemon=True).start()

    def _connection(self, conn: socket.socket, inside: bool = False) -> None:
        self.activity(1)
        try:
            conn.settimeout(IDLE_TIMEOUT)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _Client(self, conn, inside).run()
        except (Closed, OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            self.activity(-1)


def _short_text_body(rfile: BinaryIO, headers: Headers) -> bytes:
    """A response's body when it is plain text of a known end (a length, or chunked) and
    short, else b"": a refusal's reason, read without waiting on a body that never ends."""
    kind = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind != "text/plain":
        return b""
    try:
        chunks, size = http1.body(rfile, headers, response=True)
        if size is None and headers.get("transfer-encoding") is None:
            return b""  # delimited by the server closing: it may keep it open
        if size is not None and size > SERVER_REASON_MAX:
            return b""
        data = b""
        for chunk in chunks:
            data += chunk
            if len(data) > SERVER_REASON_MAX:
                return b""
        return data
    except (OSError, Closed):
        return b""


def _refusal(method: str, url: str, reason: str) -> str:
    return f"pipwrap fence: refused {method} {url}: {reason}"


class _Client(PageReader):
    def __init__(self, proxy: Proxy, conn: socket.socket, inside: bool = False) -> None:
        self.proxy = proxy
        self.inside = inside
        self.conn: socket.socket = conn
        self.rfile: BinaryIO = conn.makefile("rb", buffering=BLOCK)  # type: ignore[assignment]
        self.tunnel: tuple[str, int] | None = None
        self.session: Session | None = None
        self.upstreams: dict[tuple[policy_mod.Origin, str | None], Upstream] = {}

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def respond(self, status: str, body: bytes, extra: list[tuple[str, str]] = (),  # type: ignore[assignment]
                close: bool = False) -> None:
        head = [f"HTTP/1.1 {status}", "Content-Type: text/plain; charset=utf-8",
                f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in extra)]
        if close:
            head.append("Connection: close")
        self.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def run(self) -> None:
        try:
            while True:
                head = read_head(self.rfile)
                if head is None:
                    return
                if not self.request(*head):
                    return
        finally:
            for upstream in self.upstreams.values():
                upstream.close()

    def _session_for(self, headers: Headers) -> Session | None:
        value = headers.get("proxy-authorization") or ""
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            user, _, token = decoded.partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        session = self.proxy.sessions.get(token) if user == "pipwrap" else None
        if session is not None and token == session.inside_token and not self.inside:
            return None
        return session

    def request(self, line: str, headers: Headers) -> bool:
        """Handle one request; False when the client connection must close."""
        try:
            method, target, version = line.split(" ")
        except ValueError:
            self.respond("400 Bad Request", b"pipwrap fence: malformed request line\n", close=True)
            return False
        if self.tunnel is None:
            session = self._session_for(headers)
            if session is None:
                self.respond("407 Proxy Authentication Required",
                             b"pipwrap fence: this proxy serves only commands run by pipwrap's "
                             b"`wrap` or `pipwrap run` (no valid session token)\n",
                             [("Proxy-Authenticate", 'Basic realm="pipwrap"')], close=True)
                return False
            self.session = session
        session = self.session
        if session is None:  # unreachable: a tunnel exists only after a session was found
            return False
        if method == "CONNECT":
            refused = self._outdated(session, method, target, headers)
            return self.connect(target, session) if refused is None else refused
        if self.tunnel is not None:
            host, port = self.tunnel
            hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            url = target if "://" in target else f"https://{hostport}{target}"
            found = policy_mod.canonical(url)
            if found is None or found[0] != policy_mod.Origin("https", host, port):
                return self.refuse(session, method, url, "not the host this tunnel was opened to",
                                   headers)
        else:
            url = target
        refused = self._outdated(session, method, url, headers)
        if refused is not None:
            return refused
        with session.lock:
            decision = session.policy.decide(method, url)
        if not decision.allowed and method in ("GET", "HEAD") and self._learn(url, session):
            with session.lock:
                decision = session.policy.decide(method, url)
        if not decision.allowed:
            return self.refuse(session, method, url, decision.reason, headers)
        keep = version == "HTTP/1.1" and (headers.get("connection") or "").lower() != "close"
        if session.rules is not None and decision.kind == policy_mod.INDEX_PAGE and \
                decision.project and method in ("GET", "HEAD"):
            # Several sources or a cooldown: the fence answers the index's page itself.
            return self._serve_composed(method, url, headers, decision.project, session) \
                and keep
        return self.forward(method, url, headers, decision, session) and keep

    def _outdated(self, session: Session, method: str, url: str, headers: Headers,
                  ) -> bool | None:
        """None while the session may serve; else it refused the request of a `pipwrap
        env` session whose config changed (Session.made_from_changed), and the result is
        :meth:`refuse`'s."""
        reason = session.made_from_changed()
        if reason is None:
            return None
        # In the status line too: pip shows a proxy's reason phrase ("Tunnel connection
        # failed: 403 ...") where it hides the body, and an env session has no report file.
        return self.refuse(session, method, url, reason, headers, OUTDATED_PHRASE)

    def refuse(self, session: Session, method: str, url: str, reason: str,
               headers: Headers, phrase: str = "Forbidden") -> bool:
        message = _refusal(method, url, reason)
        session.report(message)
        # Drain a request body so the connection stays usable for the next request.
        body, length = http1.body(self.rfile, headers, response=False)
        if length is None or length <= 4 * BLOCK:
            for _ in body:
                pass
            self.respond(f"403 {phrase}", (message + "\n").encode())
            return True
        self.respond(f"403 {phrase}", (message + "\n").encode(), close=True)
        return False

    def connect(self, target: str, session: Session) -> bool:
        host, _, port_text = target.rpartition(":")
        host = host.strip("[]").lower()
        try:
            port = int(port_text)
        except ValueError:
            self.respond("400 Bad Request", b"pipwrap fence: bad CONNECT target\n", close=True)
            return False
        if self.tunnel is not None:
            self.respond("400 Bad Request", b"pipwrap fence: CONNECT inside a tunnel\n",
                         close=True)
            return False
        # Every host gets its tunnel: the fence terminates TLS and decides each request
        # inside on its full URL, which is what the policy is about. Refusing the tunnel
        # itself for a host no page has named yet would refuse a file a lock file names
        # (a fallback's file host) before the fence could read the index page that lists
        # it (see _learn); nothing reaches a host the policy does not allow either way.
        url = f"https://{target}/"
        self.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            tls = self.proxy.leaves.context(host).wrap_socket(self.conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            session.report(f"pipwrap fence: TLS with the wrapped command failed for {url} "
                           f"({getattr(exc, 'reason', None) or exc}); a tool that ignores "
                           "SSL_CERT_FILE and the other CA variables cannot use https under wrap")
            return False
        self.conn = tls
        self.rfile = tls.makefile("rb", buffering=BLOCK)  # type: ignore[assignment]
        self.tunnel = (host, port)
        return True

    def _upstream(self, origin: policy_mod.Origin, session: Session) -> Upstream:
        key = (origin, session.ca_file)
        found = self.upstreams.get(key)
        if found is not None and found.reusable:
            return found
        if found is not None:
            found.close()
        context = self.proxy.upstream_context(session.ca_file) if origin.scheme == "https" \
            else None
        upstream = Upstream(origin, context)
        self.upstreams[key] = upstream
        return upstream

    def forward(self, method: str, url: str, headers: Headers, decision: Decision,
                session: Session) -> bool:
        found = policy_mod.canonical(url)
        if found is None:
            return self.refuse(session, method, url, "not an http:// or https:// URL", headers)
        origin, path = found
        parts = urlsplit(url)
        outgoing = [(k, v) for k, v in headers.without(HOP_BY_HOP)
                    if k.lower() in _PASSED_REQUEST_HEADERS]
        host_header = parts.netloc.rpartition("@")[2]
        outgoing.insert(0, ("Host", host_header))
        # Pages are read by the fence: ask for them unencoded; files are hashed as sent.
        outgoing.append(("Accept-Encoding", "identity"))
        login = session.login if decision.add_login else fallback_login(session, origin)
        if login is not None:
            user, secret = login
            token = base64.b64encode(f"{user}:{secret}".encode()).decode()
            outgoing.append(("Authorization", f"Basic {token}"))
        elif headers.get("authorization") is not None and not decision.add_login:
            outgoing.append(("Authorization", headers.get("authorization") or ""))
        body, length = http1.body(self.rfile, headers, response=False)
        if decision.kind == policy_mod.UPLOAD:
            # The login goes with it: only a package upload may pass (not a deletion).
            try:
                if parts.query:
                    raise upload.NotAnUpload("a query string on the upload URL")
                body = upload.scanned(headers.get("content-type"), body)
            except upload.NotAnUpload as exc:
                return self.refuse(session, method, url, f"not a package upload: {exc}", headers)
        if (headers.get("expect") or "").lower() == "100-continue":
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if length is None:
            outgoing.append(("Transfer-Encoding", "chunked"))
        elif length or method in ("POST", "PUT", "PATCH"):
            outgoing.append(("Content-Length", str(length)))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in outgoing)
        head_bytes = (head + "\r\n").encode("latin-1")
        try:
            upstream, response = self._exchange(origin, session, head_bytes, body, length,
                                                method)
        except upload.NotAnUpload as exc:
            # Cut off before the body's end: the server never acts on it.
            message = _refusal(method, url, f"not a package upload: {exc}")
            session.report(message)
            self.respond("403 Forbidden", (message + "\n").encode(), close=True)
            return False
        except (OSError, ssl.SSLError, Closed) as exc:
            message = f"pipwrap fence: cannot reach {url}: {exc}"
            if isinstance(exc, ConnectionRefusedError) and session.profile == "local":
                # The built-in profile's server is the quick start's `pipwrap serve`;
                # a plain one refuses uploads (405), so an upload's hint names --auth none.
                hint = policy_mod.SERVE_HINT + (" --auth none" if method == "POST" else "")
                message += f" ({hint})"
            session.report(message)
            self.respond("502 Bad Gateway", (message + "\n").encode(), close=True)
            return False
        status_line, response_headers = response
        try:
            status = int(status_line.split(" ", 2)[1])
        except (IndexError, ValueError):
            upstream.reusable = False
            self.respond("502 Bad Gateway", b"pipwrap fence: malformed upstream response\n",
                         close=True)
            return False
        if (response_headers.get("connection") or "").lower() == "close" or \
                status_line.startswith("HTTP/1.0"):
            upstream.reusable = False
        if is_login_refused(session, decision, status):
            upstream.reusable = False  # its body is read at most in part
            said = b"" if method == "HEAD" else _short_text_body(upstream.rfile, response_headers)
            reason, message = login_refused(session, method, url, status,
                                            server_reason(said, session.login))
            session.report(message)
            self.respond(f"403 {reason}", b"" if method == "HEAD" else (message + "\n").encode())
            return True
        if status == 206 and decision.sha256:
            upstream.reusable = False  # its body is not read
            return self._bad(session, url, "the server sent part of a file (206), which "
                                           "cannot be checked against the page's sha256")
        if status in REDIRECTS and response_headers.get("location"):
            with session.lock:
                session.policy.saw_redirect(decision, url, response_headers.get("location") or "")
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        if no_body:
            chunks: Iterator[bytes] = iter(())
            size: int | None = 0
        else:
            chunks, size = http1.body(upstream.rfile, response_headers, response=True)
            if size is None and response_headers.get("transfer-encoding") is None:
                upstream.reusable = False  # delimited by the upstream closing
        # No Accept-Ranges: a client must not plan on ranges the fence does not pass.
        kept = response_headers.without(HOP_BY_HOP | {"content-length", "accept-ranges"})
        if not no_body and status == 200 and method == "GET" and \
                policy_mod.is_page_response(decision):
            return self._page(url, decision.project or "", status_line, kept, chunks, session)
        return self._stream(url, method, status_line, kept, chunks, size, no_body, decision,
                            session, upstream, status, response_headers.get("content-length"))

    def _exchange(self, origin: policy_mod.Origin, session: Session, head: bytes,
                  body: Iterator[bytes], length: int | None, method: str,
                  ) -> tuple[Upstream, tuple[str, Headers]]:
        # A kept-alive upstream connection may have been closed by the server meanwhile:
        # a request without a body is sent once more on a fresh connection.
        for attempt in (0, 1):
            upstream = self._upstream(origin, session)
            fresh = attempt == 1
            try:
                upstream.sock.sendall(head)
                if length is None:
                    for chunk in body:
                        upstream.sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    upstream.sock.sendall(b"0\r\n\r\n")
                else:
                    for chunk in body:
                        upstream.sock.sendall(chunk)
                while True:
                    response = read_head(upstream.rfile)
                    if response is None:
                        raise Closed("the upstream closed the connection")
                    if response[0].split(" ", 2)[1:2] in (["100"], ["102"], ["103"]):
                        continue
                    return upstream, response
            except (OSError, Closed, upload.NotAnUpload) as exc:
                upstream.reusable = False
                upstream.close()
                self.upstreams.pop((origin, session.ca_file), None)
                if fresh or length not in (0,) or method not in ("GET", "HEAD") or \
                        isinstance(exc, upload.NotAnUpload):
                    raise
        raise Closed("unreachable")

    def _page(self, url: str, project: str, status_line: str, kept: list[tuple[str, str]],
              chunks: Iterator[bytes], session: Session) -> bool:
        buffer = bytearray()
        for chunk in chunks:
            buffer += chunk
            if len(buffer) > MAX_PAGE:
                return self._bad(session, url, "the index page is larger than 64 MB")
        data = bytes(buffer)
        encoding = next((v for k, v in kept if k.lower() == "content-encoding"), "")
        encoding = encoding.strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            try:
                data = gzip.decompress(data) if "gzip" in encoding else zlib.decompress(data)
            except (OSError, zlib.error, EOFError):
                return self._bad(session, url, f"cannot decode the page's {encoding} body")
            kept = [(k, v) for k, v in kept if k.lower() != "content-encoding"]
        elif encoding not in ("", "identity"):
            return self._bad(session, url, f"the page came {encoding}-encoded")
        content_type = next((v for k, v in kept if k.lower() == "content-type"), None)
        try:
            files = indexpage.parse(data, content_type, url)
        except indexpage.PageError:
            files = []
        with session.lock:
            session.policy.saw_page(files, project)
        head = [status_line, *(f"{k}: {v}" for k, v in kept), f"Content-Length: {len(data)}"]
        self.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        return True

    def _bad(self, session: Session, url: str, reason: str) -> bool:
        message = _refusal("GET", url, reason)
        session.report(message)
        self.respond("502 Bad Gateway", (message + "\n").encode(), close=True)
        return False

    def _stream(self, url: str, method: str, status_line: str, kept: list[tuple[str, str]],
                chunks: Iterator[bytes], size: int | None, no_body: bool, decision: Decision,
                session: Session, upstream: Upstream, status: int,
                upstream_length: str | None) -> bool:
        chunked = size is None and not no_body
        head = [status_line, *(f"{k}: {v}" for k, v in kept)]
        if chunked:
            head.append("Transfer-Encoding: chunked")
        elif not no_body:
            head.append(f"Content-Length: {size or 0}")
        elif upstream_length is not None and status != 204 and not 100 <= status < 200:
            # A HEAD (or 304) tells the length of the body it does not send.
            head.append(f"Content-Length: {upstream_length}")
        self.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if no_body:
            return True
        check = decision.sha256 if status == 200 and method == "GET" else frozenset()
        digest = hashlib.sha256() if check else None
        pending = b""
        try:
            for chunk in chunks:
                if digest is not None:
                    digest.update(chunk)
                    # The last piece is held back until the whole body is checked.
                    if pending:
                        self._send_piece(pending, chunked)
                    pending = chunk
                else:
                    self._send_piece(chunk, chunked)
        except (Closed, OSError, ssl.SSLError):
            upstream.reusable = False
            raise Closed("upstream body cut short") from None
        if digest is not None and digest.hexdigest() not in check:
            upstream.reusable = False
            session.report(_refusal(method, url, f"its sha256 {digest.hexdigest()} is not the "
                                    f"one the index page gave ({', '.join(sorted(check))}); "
                                    "the download was cut off"))
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
            return False
        if pending:
            self._send_piece(pending, chunked)
        if chunked:
            self.send(b"0\r\n\r\n")
        return True

    def _send_piece(self, data: bytes, chunked: bool) -> None:
        if chunked:
            self.send(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            self.send(data)


__all__ = ["Proxy", "Session"]
