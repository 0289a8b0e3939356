"""The fence agent: one per user, like ssh-agent.

Started on first need by ``wrap`` (during ``pipwrap _state``) or ``pipwrap run``, shared by
concurrent commands, and gone when idle: no live session and no open connection for
``PIPWRAP_FENCE_IDLE`` seconds (default 60), or no traffic at all for
``PIPWRAP_FENCE_MAX_IDLE`` seconds (default 3600) even if sessions remain. It also leaves
when its own interpreter or code is removed or replaced (an uninstall, an upgrade): the
next ``wrap`` starts the new one. Control is a Unix socket in a 0700 directory, and the
agent also checks that the peer runs as the same user. Each session belongs to a process
(the shell for ``wrap``, ``pipwrap run`` for its command); it ends when that process ends.

The agent holds no descriptor of anyone's: a refusal is appended to the session's report
file (``reports/ID`` in the run directory, named by an id that is not the token), which
the shell's ``wrap`` or ``pipwrap run`` prints on the command's own stderr and empties.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import struct
import sys
import threading
import time

from pipwrap.fence import netns
from pipwrap.fence.certificates import LeafFactory, ensure_ca
from pipwrap.fence.policy import Policy
from pipwrap.fence.proxy import Proxy
from pipwrap.fence.session import Session
from pipwrap.fence.sources import Rules
from pipwrap.paths import FileIdentity
from pipwrap.processes import alive

SOCKET_NAME = "agent.sock"
REPORTS = "reports"
MAX_MESSAGE = 64 * 1024
# How often the agent checks that its interpreter and code are still installed.
INSTALL_CHECK_SECONDS = 1.0


def _install_fingerprint() -> tuple[tuple[int, int, int], ...] | None:
    """(device, inode, mtime) of the interpreter and this module; None once one is gone."""
    try:
        return tuple((st.st_dev, st.st_ino, st.st_mtime_ns)
                     for st in (os.stat(sys.executable), os.stat(os.path.abspath(__file__))))
    except OSError:
        return None


class Agent:
    def __init__(self, run_dir: str, ca_dir: str, idle: float, max_idle: float) -> None:
        self.run_dir = run_dir
        self.idle = idle
        self.max_idle = max_idle
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()
        self.connections = 0
        self.last_busy = time.monotonic()
        self.installed = _install_fingerprint()
        self.ca = ensure_ca(ca_dir)
        self.reports = os.path.join(run_dir, REPORTS)
        _clear_reports(self.reports)
        self.proxy = Proxy(self.sessions, LeafFactory(self.ca, run_dir), self._activity)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = int(self.listener.getsockname()[1])
        # The same port inside the namespace: a command gets one proxy URL wherever it runs.
        # Made here, before any thread (a fork).
        self.namespace, self.isolation_reason = netns.open_namespace(self.port)
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Bound by its name relative to the directory: a deep HOME must not hit the
        # ~108-byte limit of a socket path.
        os.chdir(run_dir)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET_NAME)
        old = os.umask(0o177)
        try:
            self.control.bind(SOCKET_NAME)
        finally:
            os.umask(old)
        self.socket_inode = os.stat(SOCKET_NAME).st_ino
        self.control.listen(64)

    def _activity(self, delta: int) -> None:
        with self.lock:
            self.connections += delta
            self.last_busy = time.monotonic()

    def serve(self) -> None:
        threading.Thread(target=self.proxy.serve_forever, args=(self.listener,),
                         daemon=True).start()
        if self.namespace is not None:
            threading.Thread(target=self.proxy.serve_forever,
                             args=(self.namespace.listener, True), daemon=True).start()
        threading.Thread(target=self._control_loop, daemon=True).start()
        next_install_check = time.monotonic() + INSTALL_CHECK_SECONDS
        replaced = False
        while True:
            time.sleep(0.05)
            self._reap()
            if not replaced and time.monotonic() >= next_install_check:
                # Uninstalled or upgraded under us: this process must not outlive its
                # code (nor keep a deleted environment alive); shells register again.
                replaced = _install_fingerprint() != self.installed
                next_install_check = time.monotonic() + INSTALL_CHECK_SECONDS
            with self.lock:
                quiet = time.monotonic() - self.last_busy
                # No session left, or sessions whose owners stay but send nothing for long
                # (a shell left open): a shell registers again on its next `wrap`.
                idle = not self.connections and (
                    replaced or (not self.sessions and quiet > self.idle)
                    or quiet > self.max_idle)
            if idle:
                self.shutdown()
                return

    def _reap(self) -> None:
        with self.lock:
            dead = [t for t, s in self.sessions.items()
                    if s.owner_pid is not None and not alive(s.owner_pid)]
            for token in dead:
                self.sessions.pop(token).close()
            if dead:
                self.last_busy = time.monotonic()

    def shutdown(self) -> None:
        # Only our own socket: a newer agent may have replaced it already.
        with contextlib.suppress(OSError):
            if os.stat(SOCKET_NAME).st_ino == self.socket_inode:
                os.unlink(SOCKET_NAME)
        with contextlib.suppress(OSError):
            self.control.close()
        with self.lock:
            for session in self.sessions.values():
                session.close()
            self.sessions.clear()

    def _control_loop(self) -> None:
        while True:
            try:
                conn, _ = self.control.accept()
            except OSError:
                return
            with conn:
                try:
                    self._control(conn)
                except (OSError, ValueError) as exc:
                    with contextlib.suppress(OSError):
                        conn.sendall(json.dumps({"error": str(exc)}).encode() + b"\n")

    def _control(self, conn: socket.socket) -> None:
        if hasattr(socket, "SO_PEERCRED"):
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.getuid():
                raise ValueError("the fence agent serves only its own user")
        # Elsewhere (macOS, BSDs) the 0700 directory around the socket is the check.
        conn.settimeout(10)
        # A plain recv: descriptors a peer might attach are discarded by the kernel, so
        # the agent never holds a caller's terminal, pipe or file.
        data = b""
        while not data.endswith(b"\n"):
            more = conn.recv(MAX_MESSAGE)
            if not more or len(data) > MAX_MESSAGE:
                raise ValueError("truncated request")
            data += more
        reply = self._handle(json.loads(data))
        conn.sendall(json.dumps(reply).encode() + b"\n")

    def _handle(self, request: dict[str, object]) -> dict[str, object]:
        op = request.get("op")
        if op == "ping":
            return {"pid": os.getpid(), "port": self.port,
                    "isolation": "" if self.namespace else self.isolation_reason}
        if op != "open":
            raise ValueError(f"unknown request {op!r}")
        index_url = str(request["index_url"])
        upload_url = request.get("upload_url")
        login = request.get("login")
        ca_file = request.get("ca_file")
        owner = request.get("owner_pid")
        wants_report = bool(request.get("report"))
        mode = request.get("isolation") or "off"
        if mode == "required" and self.namespace is None:
            raise ValueError("the profile requires network isolation (isolation = "
                             f"\"required\"), which is not available here: "
                             f"{self.isolation_reason}")
        isolated = mode != "off" and self.namespace is not None
        login_pair = (str(login[0]), str(login[1])) if isinstance(login, list) else None
        rules = _rules(index_url, request.get("sources"))
        policy = Policy(index_url, str(upload_url) if upload_url else None,
                        composed=rules is not None)
        made_from = _made_from(request.get("made_from"))
        key = (index_url, upload_url, login_pair, ca_file, owner, wants_report, isolated, rules,
               made_from is not None)
        profile, login_source = _labels(request)
        with self.lock:
            self.last_busy = time.monotonic()
            # A shell re-resolves on every cd: the same profile for the same shell keeps
            # its session (its pages seen so far, its report file).
            for token, session in self.sessions.items():
                if (session.policy.index_url, session.policy.upload_url, session.login,
                        session.ca_file, session.owner_pid, session.report_path is not None,
                        session.inside_token is not None, session.rules,
                        session.made_from is not None) == key:
                    with session.lock:
                        session.profile, session.login_source = profile, login_source
                        if made_from is not None:
                            # `pipwrap env` again, and its config gives the same rules:
                            # the session serves again, checked against the files as now.
                            session.made_from = made_from
                            session.made_from_seen_until = 0.0
                    return self._opened(token, session)
            token = secrets.token_urlsafe(24)
            report = None
            if wants_report:
                # Named by an id of its own: the path is shown to the shell, the token
                # (the proxy's password) is not in it.
                report = os.path.join(self.reports, secrets.token_hex(8))
                os.close(os.open(report, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                                 0o600))
            session = Session(token, policy, login_pair, str(ca_file) if ca_file else None,
                              report, owner if isinstance(owner, int) else None,
                              profile=profile, login_source=login_source, rules=rules,
                              made_from=made_from)
            self.sessions[token] = session
            if isolated:
                # A second token that only the listener inside the namespace takes: one
                # read from a command's argv is of no use to anyone outside it.
                session.inside_token = secrets.token_urlsafe(24)
                self.sessions[session.inside_token] = session
        return self._opened(token, session)

    def _opened(self, token: str, session: Session) -> dict[str, object]:
        enter = self.namespace.enter_argv() if self.namespace and session.inside_token else []
        return {"token": session.token, "port": self.port, "pid": os.getpid(),
                "report": session.report_path, "inside_token": session.inside_token,
                "enter": enter, "isolation": "" if self.namespace else self.isolation_reason,
                "composes": session.rules is not None,
                "checks_made_from": session.made_from is not None}


def _rules(index_url: str, given: object) -> Rules | None:
    """The session's :class:`Rules` from the open request's ``sources`` (None: none)."""
    if not isinstance(given, dict):
        return None

    def strings(key: str) -> tuple[str, ...]:
        value = given.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"malformed sources.{key}")
        return tuple(value)

    cooldown = given.get("cooldown")
    rules = Rules((index_url, *strings("fallback")), strings("reserved"),
                  str(cooldown) if cooldown else None, strings("cooldown_exempt"))
    if rules.cooldown and rules.cooldown_seconds is None:
        raise ValueError(f"malformed cooldown {rules.cooldown!r}")
    return rules if len(rules.sources) > 1 or rules.reserved or rules.cooldown else None


def _made_from(given: object) -> tuple[tuple[str, FileIdentity | None], ...] | None:
    """The open request's ``made_from``: [[absolute path, [inode, size, mtime_ns,
    ctime_ns] or null], ...] (None: absent). Anything else is refused, the former
    [path, mtime_ns] too: a session checked by the mtime alone would miss a change whose
    writer set the mtime back, so it is not opened."""
    if given is None:
        return None
    if not isinstance(given, list) or not all(
            isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
            and os.path.isabs(item[0]) and (item[1] is None or _is_identity(item[1]))
            for item in given):
        raise ValueError("malformed made_from")
    return tuple((str(path), None if identity is None else
                  (identity[0], identity[1], identity[2], identity[3]))
                 for path, identity in given)


def _is_identity(value: object) -> bool:
    return isinstance(value, list) and len(value) == 4 and \
        all(type(number) is int for number in value)


def _clear_reports(directory: str) -> None:
    """A fresh reports directory: the files of an agent that was killed are left over."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for name in os.listdir(directory):
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, name))


def _labels(request: dict[str, object]) -> tuple[str | None, str | None]:
    """The profile's name and its login's source, for the message when a server refuses
    the login (the latest open wins: they are words for people, not part of the policy)."""
    profile, source = request.get("profile"), request.get("login_source")
    return (str(profile) if profile else None, str(source) if source else None)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run_dir, ca_dir, ready = args[0], args[1], int(args[2])
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        agent = Agent(run_dir, ca_dir, float(os.environ.get("PIPWRAP_FENCE_IDLE", "60")),
                      float(os.environ.get("PIPWRAP_FENCE_MAX_IDLE", "3600")))
    except Exception as exc:  # reported to the starter, which fails closed
        os.write(ready, f"error: {exc}\n".encode())
        os.close(ready)
        return 1
    os.write(ready, f"ok {os.getpid()} {agent.port}\n".encode())
    os.close(ready)
    agent.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
