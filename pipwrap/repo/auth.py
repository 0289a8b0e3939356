"""Logins for ``pipwrap serve``: an Apache htpasswd file, checked with the standard library.

Why htpasswd and not a token file of our own: it is the format every operator already has
tools for (``htpasswd -B``/``-s``/``-m``, ``openssl passwd -apr1``), the one pypiserver and
nginx's ``auth_basic_user_file`` read, so one file serves ``pipwrap serve``, an nginx front
and a pypiserver beside it. A token is an entry like any other: ``__token__:HASH`` is what
twine and ``uv publish --token`` send as the login.

Entries: ``{SHA}`` (``htpasswd -s``) and ``$apr1$`` (``htpasswd -m``, Apache's default) are
checked with :mod:`hashlib`; bcrypt (``htpasswd -B``) needs the optional ``bcrypt`` package
(or passlib with a bcrypt backend) and is refused at start-up without it, never at the
first login. Plain-text entries are refused. A verified (user, password) pair is
remembered in memory (as a sha256 of both) until the file changes, so a bcrypt entry costs
its ~0.1 s once, not on every request of a login-to-read client.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_REMEMBERED = 1024


def apr1(password: bytes, salt: bytes, magic: bytes = b"$apr1$") -> bytes:
    """Apache's MD5-crypt (``$apr1$``), as ``htpasswd -m`` and ``openssl passwd -apr1``."""
    salt = salt[:8]

    def md5(data: bytes) -> bytes:
        return hashlib.md5(data, usedforsecurity=False).digest()

    ctx = password + magic + salt
    final = md5(password + salt + password)
    length = len(password)
    while length > 0:
        ctx += final[:min(16, length)]
        length -= 16
    i = len(password)
    while i:
        ctx += b"\x00" if i & 1 else password[:1]
        i >>= 1
    final = md5(ctx)
    for i in range(1000):
        step = password if i & 1 else final
        if i % 3:
            step += salt
        if i % 7:
            step += password
        step += final if i & 1 else password
        final = md5(step)

    def to64(value: int, count: int) -> str:
        out = ""
        for _ in range(count):
            out += _ITOA64[value & 0x3F]
            value >>= 6
        return out

    encoded = ""
    for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)):
        encoded += to64(final[a] << 16 | final[b] << 8 | final[c], 4)
    encoded += to64(final[11], 2)
    return magic + salt + b"$" + encoded.encode()


def _bcrypt_checker() -> Callable[[bytes, bytes], bool] | None:
    try:
        import bcrypt  # type: ignore[import-not-found, unused-ignore]

        checkpw: Callable[[bytes, bytes], bool] = bcrypt.checkpw
        return checkpw
    except ImportError:
        pass
    try:
        from passlib.hash import bcrypt as passlib_bcrypt  # type: ignore[import-untyped, unused-ignore]

        passlib_bcrypt.get_backend()  # raises without a backend
    except Exception:
        return None

    def check(password: bytes, hashed: bytes) -> bool:
        return bool(passlib_bcrypt.verify(password, hashed))

    return check


def check_entry(hashed: str, password: str) -> bool:
    secret = password.encode()
    if hashed.startswith("{SHA}"):
        wanted = base64.b64encode(hashlib.sha1(secret, usedforsecurity=False).digest())
        return hmac.compare_digest(wanted, hashed[5:].encode())
    if hashed.startswith("$apr1$"):
        salt = hashed[6:].split("$", 1)[0].encode()
        return hmac.compare_digest(apr1(secret, salt), hashed.encode())
    if hashed.startswith(("$2y$", "$2b$", "$2a$")):
        checker = _bcrypt_checker()
        if checker is None:
            return False
        # bcrypt reads 72 bytes of a password; htpasswd -B, Apache and nginx (crypt(3))
        # ignore the rest, and the bcrypt package (>= 4.1) refuses it instead: cut here,
        # so that an entry made by htpasswd accepts what those servers accept.
        secret = secret[:72]
        normalized = "$2b$" + hashed[4:] if hashed.startswith("$2y$") else hashed
        try:
            return bool(checker(secret, normalized.encode()))
        except ValueError:
            return False
    return False


def _kind(hashed: str) -> str | None:
    if hashed.startswith("{SHA}"):
        return "sha"
    if hashed.startswith("$apr1$"):
        return "apr1"
    if hashed.startswith(("$2y$", "$2b$", "$2a$")):
        return "bcrypt"
    return None


_ONE_LINE = "give each user one line"


def read_htpasswd(path: str) -> tuple[dict[str, str], list[str]]:
    """(user -> hash, one message per line that cannot be used); the whole file failing
    to read is a PipwrapError. A UTF-8 byte order mark (Windows editors write one) is
    not part of the first user's name."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise PipwrapError(f"--htpasswd {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PipwrapError(f"--htpasswd {path}: not UTF-8 text") from None
    users: dict[str, str] = {}
    first_line: dict[str, int] = {}
    doubled: set[str] = set()
    problems: list[str] = []
    bcrypt_ok: bool | None = None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, hashed = line.strip().partition(":")
        kind = _kind(hashed)
        if not sep or not user or kind is None:
            problems.append(
                f"--htpasswd {path}, line {number}: expected USER:HASH with a {{SHA}}, $apr1$ "
                "or bcrypt hash (htpasswd -B, -m or -s); plain-text passwords are refused")
            continue
        if kind == "bcrypt":
            if bcrypt_ok is None:
                bcrypt_ok = _bcrypt_checker() is not None
            if not bcrypt_ok:
                from pipwrap.install_hint import install_command

                problems.append(
                    f"--htpasswd {path}, line {number}: a bcrypt entry needs the bcrypt "
                    f"package in pipwrap's environment (install it with: "
                    f"{install_command('bcrypt')}); or make the entry with htpasswd -m or -s")
                continue
        if user in first_line:
            # Apache and nginx take a name's first line, a dict its last: the same file
            # would log in with different passwords behind each. A name given twice
            # (a token rotated by appending) logs in with neither until one line goes.
            problems.append(
                f"--htpasswd {path}, line {number}: user {user!r} is on line "
                f"{first_line[user]} too; {_ONE_LINE}")
            doubled.add(user)
            continue
        first_line[user] = number
        users[user] = hashed
    for user in doubled:
        del users[user]
    return users, problems


def load_htpasswd(path: str) -> dict[str, str]:
    """user -> hash; at start-up every problem stops serve, naming the file and line."""
    users, problems = read_htpasswd(path)
    if problems:
        raise PipwrapError(problems[0])
    if not users:
        raise PipwrapError(f"--htpasswd {path}: no users in it")
    return users


def _hash_cost(hashed: str) -> tuple[int, int]:
    """How slow an entry is to check, in order: {SHA}, $apr1$, bcrypt by its cost."""
    kind = _kind(hashed)
    if kind == "bcrypt":
        rounds = hashed[4:6]
        return (3, int(rounds) if rounds.isdigit() else 0)
    return (2, 0) if kind == "apr1" else (1, 0)


def _decoy(users: dict[str, str]) -> str | None:
    """A hash to check a refused password against, as slow as the slowest entry (the
    highest bcrypt cost, else $apr1$, else {SHA}): a 401 must take as long for a name that
    does not exist as for one that does, or timing tells the names apart."""
    return max(users.values(), key=_hash_cost, default=None)


def basic_login(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) an ``Authorization: Basic`` header claims, proven or not."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def file_stamp(path: str) -> tuple[int, int, int]:
    """What changes when a file is edited or replaced; zeros when it cannot be read."""
    try:
        status = os.stat(path)
    except OSError:
        return (0, 0, 0)
    return (status.st_mtime_ns, status.st_size, status.st_ino)


class Logins:
    """The htpasswd file, re-read when it changes (add a user without a restart)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._users = load_htpasswd(path)
        self._decoy = _decoy(self._users)
        self._good: set[bytes] = set()

    def _stat(self) -> tuple[int, int, int]:
        return file_stamp(self.path)

    def _current(self) -> dict[str, str]:
        stamp = self._stat()
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    import sys

                    try:
                        users, problems = read_htpasswd(self.path)
                    except PipwrapError as exc:  # deleted, unreadable: revoke every login
                        users, problems = {}, [str(exc)]
                    # What the file says now applies, line by line: a line that cannot
                    # be read is left out (said in the log), never a reason to keep the
                    # previous file, where a user just removed would still log in.
                    for problem in problems:
                        consequence = ("neither line logs in until one is removed"
                                       if problem.endswith(_ONE_LINE) else "that line is ignored")
                        sys.stderr.write(f"pipwrap serve: {problem}; {consequence}\n")
                    if not users:
                        # Deleted or emptied: every login is revoked, never kept
                        # (red-team finding 2).
                        sys.stderr.write(f"pipwrap serve: --htpasswd {self.path}: no usable "
                                         "entry; no login is accepted until it holds users "
                                         "again\n")
                    self._users = users
                    self._decoy = _decoy(users)
                    self._good = set()
                    self._stamp = stamp
        return self._users

    def check(self, authorization: str | None) -> str | None:
        """The user an ``Authorization: Basic`` header proves, else None."""
        claimed = basic_login(authorization)
        if claimed is None:
            return None
        user, password = claimed
        users = self._current()
        hashed = users.get(user)
        if hashed is None:
            if self._decoy is not None:
                check_entry(self._decoy, password)  # as slow as a known user's refusal
            return None
        key = hashlib.sha256(f"{user}\0{password}\0{hashed}".encode()).digest()
        if key in self._good:
            return user
        if not check_entry(hashed, password):
            decoy = self._decoy
            if decoy is not None and _hash_cost(hashed) < _hash_cost(decoy):
                # A cheap entry ({SHA}, $apr1$: a CI token) beside a bcrypt one would answer
                # its 401 far sooner than an unknown name does (checked against the decoy),
                # telling the name apart: its refusal costs the slowest entry too. A right
                # password stays as fast as its own hash (and is remembered).
                check_entry(decoy, password)
            return None
        with self._lock:
            if len(self._good) >= _REMEMBERED:
                self._good.clear()
            self._good.add(key)
        return user
