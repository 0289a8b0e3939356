"""``pipwrap serve``'s process around the HTTP engine: the start-up lines, a clear
refusal for a port in use, the TLS files checked before anything binds, the re-indexing
watcher, and granian embedded in this one process.

Who may do what is :mod:`.access`'s; what each request gets, :mod:`.app`'s: this module
never reads a request. The policy is pypiserver's ``--fallback-url``, made safe by
construction: a project with any file here is answered from here only, so an upstream
``foo 9.9.9`` can never outbid a local ``foo 1.0`` (dependency confusion).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Awaitable, Callable

from pipwrap.errors import PipwrapError
from pipwrap.repo import index, proctitle, upload
from pipwrap.repo.access import Access

TYPE_CHECKING = False
if TYPE_CHECKING:
    # Imported only with --cache (it brings urllib3 and the page parser).
    from pipwrap.repo.app import App
    from pipwrap.repo.mirror import Mirror
    from pipwrap.repo.mirror import Settings as CacheSettings

WATCH_INTERVAL = 1.0
BACKLOG = 1024
MAX_HEADER_BYTES = 16 * 1024  # request line and headers together (hyper: 431 beyond)


def check_tls(cert: str, key: str | None) -> None:
    """The certificate and key load, checked before anything binds: the engine's own
    error would name neither file."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError:
        # ssl names no file: say which one is missing.
        missing = cert if not os.path.exists(cert) else key
        option = "--tls-cert" if missing == cert else "--tls-key"
        raise PipwrapError(f"serve: {option} {missing}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        raise PipwrapError(f"serve: cannot use the TLS certificate {cert}"
                           f"{' and key ' + key if key else ''}: {exc}") from None


def _signature(root: str) -> list[tuple[str, int]]:
    """The mtimes of the tree's directories: a file added or removed changes one."""
    found = [("", os.stat(root).st_mtime_ns)]
    with os.scandir(root) as entries:
        for entry in entries:
            if not entry.name.startswith(".") and entry.is_dir():
                found.append((entry.name, entry.stat().st_mtime_ns))
    return found


def report(built: index.Report, verbose: bool) -> None:
    for moved in built.adopted:
        sys.stderr.write(f"pipwrap serve: moved into its project directory: {moved}\n")
    for warning in built.warnings:
        sys.stderr.write(f"pipwrap serve: warning: {warning}\n")
    if verbose and built.written:
        count = len(built.written)
        sys.stderr.write(f"pipwrap serve: re-indexed ({count} file{'s' if count != 1 else ''} "
                         "written)\n")


def watch(root: str, stop: threading.Event, verbose: bool) -> None:
    """Keep the index current when files are dropped into the tree by hand.

    The first pass runs here too, so the server answers at once: the pages on disk are
    already current unless files were dropped in while it was down.
    """
    last: list[tuple[str, int]] | None = None
    while last is None or not stop.wait(WATCH_INTERVAL):
        now: list[tuple[str, int]] = []
        try:
            now = _signature(root)
            if now == last:
                continue
            report(index.build(root), verbose)
            last = _signature(root)
        except Exception as exc:  # the watcher must outlive any one bad file
            sys.stderr.write(f"pipwrap serve: re-indexing failed: {exc}\n")
            last = now  # try again when the tree changes, not every second


def listener(port: int) -> str:
    """What listens on ``port``, as far as this user may see (Linux's /proc: the socket's
    inode, then the process holding it), else "something else"."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    # local address "ADDR:PORT" in hex; state 0A is LISTEN.
                    if len(fields) > 9 and fields[3] == "0A" and \
                            int(fields[1].rpartition(":")[2], 16) == port:
                        inodes.add(f"socket:[{fields[9]}]")
        except (OSError, ValueError):
            continue
    if not inodes:
        return "something else"
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return "something else"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if not any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                words = handle.read().split(b"\0")
        except OSError:
            continue  # gone, or another user's
        argv = [w.decode(errors="replace") for w in words if w]
        if not argv:
            continue
        from pipwrap.redact import redact

        shown = redact(" ".join([os.path.basename(argv[0]), *argv[1:]]))
        return f"{shown[:100]}{'...' if len(shown) > 100 else ''} (pid {pid})"
    return "something else (a process of another user)"


def announce(root: str, host: str, port: int, fallback: str | None, access: Access,
             mirror: Mirror | None, *, tls: bool, cert: str | None = None) -> None:
    """serve's first lines: where, what it falls back to, how to stop it, warnings."""
    named = _certificate_name(cert, host) if cert else None
    shown_host = named or (f"[{host}]" if ":" in host else host)
    url = f"{'https' if tls else 'http'}://{shown_host}:{port}/simple/"
    where = f"falling back to {fallback}" if fallback else "no fallback"
    if mirror is not None:
        where = (f"caching {mirror.upstream} for projects not held here; clients never "
                 f"contact it; pages revalidated after {mirror.ttl:g} s")
    sys.stderr.write(f"pipwrap serve: {root} at {url} ({where}); {proctitle.how_to_stop()}\n")
    if named:
        sys.stderr.write(f"pipwrap serve: listening on {host}; the address says {named}, the "
                         "name the TLS certificate holds (clients check it)\n")
    if access.uploads:
        who = "with a login" if access.login_to_upload else "from anyone, no login"
        sys.stderr.write(f"pipwrap serve: uploads at {url.removesuffix('simple/')} "
                         f"(twine, uv publish...) {who}\n")
    if access.logins is not None and not tls and host not in ("127.0.0.1", "::1", "localhost"):
        sys.stderr.write("pipwrap serve: warning: logins cross the network in clear; use "
                         "--tls-cert/--tls-key or a TLS front (docs/hosting-team.md)\n")
    if host not in ("127.0.0.1", "::1", "localhost"):
        sys.stderr.write(f"pipwrap serve: warning: listening on {host}, not only on this "
                         "machine\n")
    sys.stderr.flush()


def _certificate_name(cert: str, host: str) -> str | None:
    """A DNS name the certificate holds, when it does not hold ``host`` itself: the
    address serve prints is copied into profiles, and https://127.0.0.1 against a
    certificate made for ``localhost`` fails every client's name check. None: the
    certificate holds the host (or cannot be read here; the engine says why)."""
    import ipaddress

    try:
        from cryptography import x509

        with open(cert, "rb") as handle:
            certificate = x509.load_pem_x509_certificate(handle.read())
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except Exception:  # no SAN, not PEM, unreadable: print the host as given
        return None
    dns = names.get_values_for_type(x509.DNSName)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None if host in dns or not dns else dns[0]
    if address in names.get_values_for_type(x509.IPAddress):
        return None
    plain = [name for name in dns if "*" not in name]
    return plain[0] if plain else None


def _free_port(host: str, port: int) -> int:
    """The port, tried here first for a clear refusal naming what holds it; ``--port 0``:
    the free one found, announced as served."""
    import errno
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PipwrapError(f"serve: port {port} on {host} is already in use by "
                                   f"{listener(port)}; choose another with --port") from None
            raise PipwrapError(f"serve: cannot listen on {host}:{port}: {exc.strerror}"
                               ) from None
        return int(probe.getsockname()[1])


async def run(app: App, host: str, port: int, *, cert: str | None = None,
              key: str | None = None, backpressure: int | None = None,
              on_start: Callable[[], None] | None = None,
              on_stop: Callable[[], Awaitable[None]] | None = None) -> None:
    """Serve ``app`` on granian, embedded in this process (one process: its proctitle,
    signals and re-indexing thread stay ours); SIGINT, SIGTERM and SIGQUIT stop it.
    ``backpressure``: requests handled at once (``--max-connections``); more wait."""
    import signal
    from pathlib import Path

    from granian.constants import HTTPModes, Interfaces, SSLProtocols  # type: ignore[import-not-found, unused-ignore]
    from granian.http import HTTP1Settings  # type: ignore[import-not-found, unused-ignore]
    from granian.server.embed import Server  # type: ignore[import-not-found, unused-ignore]

    server = Server(app, address=host, port=port, interface=Interfaces.RSGI,
                    http=HTTPModes.http1, websockets=False, log_enabled=False,
                    backlog=BACKLOG, backpressure=backpressure,
                    ssl_cert=Path(cert) if cert else None,
                    ssl_key=Path(key or cert) if cert else None,
                    ssl_protocol_min=SSLProtocols.tls12,
                    http1_settings=HTTP1Settings(
                        header_read_timeout=int(app.header_timeout * 1000),
                        max_buffer_size=MAX_HEADER_BYTES))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        loop.add_signal_handler(signum, server.stop)
    if on_start is not None:
        loop.call_soon(on_start)
    try:
        await server.serve()
    finally:
        if on_stop is not None:
            with contextlib.suppress(Exception):
                await on_stop()


def serve(root: str, host: str, port: int, fallback: str | None, verbose: bool,
          access: Access, cache: CacheSettings | None = None, cert: str | None = None,
          key: str | None = None, *, header_timeout: float = 15.0,
          max_connections: int | None = None) -> int:
    """``pipwrap serve``: the tree's index, pages written before the first client, the
    watcher, then the engine until a signal stops it."""
    from pipwrap.repo.app import App

    os.makedirs(root, exist_ok=True)
    upload.clear_spool(root)
    if not os.path.exists(os.path.join(root, "index.html")):
        report(index.build(root), verbose)  # a new tree: its pages before its first client
    mirror = None
    if fallback and cache is not None:
        from pipwrap.repo.mirror import Mirror

        mirror = Mirror(root, cache)
    port = _free_port(host, port)
    app = App(root, fallback, verbose, access, mirror, header_timeout=header_timeout)

    def started() -> None:
        announce(root, host, port, fallback, access, mirror, tls=cert is not None, cert=cert)

    stop = threading.Event()
    threading.Thread(target=watch, args=(root, stop, verbose), daemon=True).start()
    try:
        asyncio.run(run(app, host, port, cert=cert, key=key, backpressure=max_connections,
                        on_start=started))
    finally:
        stop.set()
    sys.stderr.write("pipwrap serve: stopped\n")
    return 0
