"""Network isolation: a wrapped command whose only way onto the network is the fence (Linux).

A short-lived helper process makes a user namespace and a network namespace
(``unshare(CLONE_NEWUSER | CLONE_NEWNET)``, through ctypes: ``os.unshare`` is Python
3.12+), maps the user's own uid and gid to themselves (the command keeps its identity,
pip does not think it is root), brings ``lo`` up while it still holds CAP_NET_ADMIN there
(it loses it at exec; a shell's ``unshare --map-current-user`` cannot), binds a listener on
127.0.0.1:PORT inside, and hands the listener and its two namespaces to the caller over a
socketpair (SCM_RIGHTS) before it exits. A socket stays in the namespace it was made in:
the agent, outside, accepts on that listener connections made inside and connects to
indexes outside. Its copies of the namespace descriptors keep the namespaces alive, and
each command enters them through ``/proc/AGENT/fd/N`` with util-linux's ``nsenter``
(milliseconds; a Python launcher per command would cost tens). Inside there is loopback
and the fence's listener, and no route anywhere else: a child that switches its proxy off
gets "Network is unreachable", and a name it resolves itself does not resolve.

Where user namespaces are not to be had (non-Linux, disabled by sysctl, Ubuntu's AppArmor
restriction, a container's seccomp profile, no ``nsenter``), :func:`availability` says why.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import socket
import struct
import sys
from dataclasses import dataclass

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
# struct ifreq: a 16-byte interface name, then a union whose first member is the flags.
_IFREQ = "16sH22x"
_HELPER_TIMEOUT = 10.0

# The kernel's switches that keep a plain user from making a user namespace, and what
# each one means to a person reading `pipwrap doctor`.
_SWITCHES = (
    ("/proc/sys/user/max_user_namespaces", "0",
     "user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)"),
    ("/proc/sys/kernel/unprivileged_userns_clone", "0",
     "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)"),
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
     "AppArmor restricts unprivileged user namespaces "
     "(kernel.apparmor_restrict_unprivileged_userns = 1)"),
)


class IsolationUnavailable(Exception):
    """No network namespace can be made here; ``str()`` says why, for a person."""


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str  # why not; empty when available


def nsenter_path() -> str | None:
    """util-linux's nsenter, looked up where the system keeps it before PATH (a directory
    a project controls must not choose what enters the namespace)."""
    for directory in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        candidate = os.path.join(directory, "nsenter")
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("nsenter")


def _switch_reason() -> str:
    """The first kernel switch that refuses a plain user a user namespace, or ''."""
    for path, refusing, reason in _SWITCHES:
        # Root is not "unprivileged": only max_user_namespaces stops it.
        if os.geteuid() == 0 and "unprivileged" in path:
            continue
        try:
            with open(path, encoding="ascii") as handle:
                if handle.read().strip() == refusing:
                    return reason
        except OSError:
            continue
    return ""


def availability(*, probe: bool = True) -> Availability:
    """Whether a wrapped command can run in a network namespace of its own here, and if not,
    why. ``probe`` makes one (a fork, a few ms): the switches above are not the only
    thing that refuses (a container's seccomp profile, an LSM)."""
    if not sys.platform.startswith("linux"):
        return Availability(False, f"network namespaces need Linux (this is {sys.platform})")
    reason = _switch_reason()
    if reason:
        return Availability(False, reason)
    if nsenter_path() is None:
        return Availability(False, "nsenter (util-linux) is not installed")
    if probe:
        try:
            create(0).close()
        except IsolationUnavailable as exc:
            return Availability(False, str(exc))
    return Availability(True, "")


@dataclass
class Namespace:
    """A network namespace held by this process: the listener inside it and descriptors of
    the user and network namespaces that commands enter."""

    listener: socket.socket  # bound to 127.0.0.1:port inside, listening
    user_fd: int
    net_fd: int

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def enter_argv(self, holder_pid: int | None = None) -> list[str]:
        """The argv prefix that runs a command inside, for any process of this user while
        ``holder_pid`` (default: this process) keeps the descriptors open."""
        nsenter = nsenter_path()
        if nsenter is None:
            raise IsolationUnavailable("nsenter (util-linux) is not installed")
        pid = os.getpid() if holder_pid is None else holder_pid
        return [nsenter, f"--user=/proc/{pid}/fd/{self.user_fd}",
                f"--net=/proc/{pid}/fd/{self.net_fd}", "--preserve-credentials", "--"]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()
        for fd in (self.user_fd, self.net_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def create(port: int = 0, backlog: int = 128) -> Namespace:
    """Make the namespaces and the listener on 127.0.0.1:``port`` inside (0: any port).

    Forks a helper; call it before this process starts threads. Raises
    :class:`IsolationUnavailable` with the step that failed.
    """
    if not sys.platform.startswith("linux"):
        raise IsolationUnavailable(f"network namespaces need Linux (this is {sys.platform})")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the helper; it reports through the socketpair
            ours.close()
            code = 1
            try:
                _helper(theirs, port, backlog)
                code = 0
            finally:
                os._exit(code)
        theirs.close()
        try:
            return _receive(ours)
        finally:
            os.waitpid(pid, 0)
    finally:
        ours.close()
        with contextlib.suppress(OSError):
            theirs.close()


def _receive(conn: socket.socket) -> Namespace:
    conn.settimeout(_HELPER_TIMEOUT)
    fds = array.array("i")
    try:
        data, ancillary, _flags, _addr = conn.recvmsg(4096, socket.CMSG_SPACE(3 * fds.itemsize))
    except OSError as exc:
        raise IsolationUnavailable(f"the namespace helper did not answer: {exc}") from None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    if data != b"ok" or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        text = data.decode(errors="replace").strip() or "the namespace helper failed"
        raise IsolationUnavailable(text)
    listener = socket.socket(fileno=fds[0])
    return Namespace(listener, fds[1], fds[2])


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _helper(conn: socket.socket, port: int, backlog: int) -> None:  # pragma: no cover
    """In the forked helper: make the namespaces, send the listener and them, exit."""
    step = "unshare(CLONE_NEWUSER | CLONE_NEWNET)"
    try:
        uid, gid = os.geteuid(), os.getegid()
        if _libc().unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            hint = {errno.EPERM: "not permitted here", errno.EINVAL: "not supported",
                    errno.ENOSPC: "the user namespace limit is reached",
                    errno.EUSERS: "the user namespace limit is reached"}.get(code, "")
            raise OSError(code, hint or os.strerror(code))
        step = "writing the uid and gid maps"
        # gid_map is refused until setgroups is denied; the command keeps its groups but
        # cannot change them (there is no one else to be in here anyway).
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        step = "bringing lo up"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
            request = struct.pack(_IFREQ, b"lo", 0)
            flags = struct.unpack_from(_IFREQ, fcntl.ioctl(control, SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(control, SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))
        step = f"listening on 127.0.0.1:{port} inside"
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(backlog)
        user_fd = os.open("/proc/self/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        net_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        socket.send_fds(conn, [b"ok"], [listener.fileno(), user_fd, net_fd])
    except OSError as exc:
        detail = exc.strerror or str(exc)
        with contextlib.suppress(OSError):
            conn.sendall(f"cannot make a network namespace: {step} failed: {detail}".encode())


def open_namespace(port: int) -> tuple[Namespace | None, str]:
    """The fence's namespace with its listener on ``port`` inside, or None and why not."""
    found = availability(probe=False)
    if not found.available:
        return None, found.reason
    try:
        return create(port), ""
    except IsolationUnavailable as exc:
        return None, str(exc)
