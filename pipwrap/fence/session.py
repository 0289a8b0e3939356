"""One fence session: the profile's policy, its login and where its refusals are said.

A session belongs to a process (the shell for ``wrap``, the command for ``pipwrap run``)
and ends with it; the login stays here, in the agent, never in the command.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field

from pipwrap.fence import policy as policy_mod
from pipwrap.fence.policy import Decision, Policy
from pipwrap.fence.sources import Rules
from pipwrap.paths import FileIdentity, file_identity

# How long a look at a `pipwrap env` session's files stands. Looking costs a stat per
# file (the config and each directory's .pipwrap.toml up to /: ~70 us for 13 of them,
# measured) on every request otherwise; a change is still seen well before a person
# can start a command after saving it (and `wrap` applies one only to its next command).
MADE_FROM_RECHECK = 0.1


@dataclass
class Session:
    token: str
    policy: Policy
    login: tuple[str, str] | None = None
    ca_file: str | None = None
    # Where refusals go: a file in the agent's private directory that the caller (the
    # shell's `wrap`, `pipwrap run`) prints on the command's own stderr after the
    # command, then empties. None: said to nobody (the 403's body still says it).
    report_path: str | None = None
    owner_pid: int | None = None
    # The token taken only on the listener inside the network namespace (None: no namespace).
    inside_token: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    reported: set[str] = field(default_factory=set)
    # Projects whose index page this session fetched on its own (see Client._learn).
    learned: set[str] = field(default_factory=set)
    # For people, when a server refuses the login: the profile's name and where its
    # password comes from (never the secret).
    profile: str | None = None
    login_source: str | None = None
    # The profile's sources and rules when the fence composes its pages (None: it passes
    # the index's pages as they are).
    rules: Rules | None = None
    # `pipwrap env` only: the files its profile was resolved from, each with its identity
    # (paths.FileIdentity: inode, size, mtime, ctime) taken before it was read, None for
    # one that did not exist. None: not such a session (`wrap` resolves again itself when
    # they change; see made_from_changed).
    made_from: tuple[tuple[str, FileIdentity | None], ...] | None = None
    # Until when (time.monotonic()) the last look at them stands (see made_from_changed).
    made_from_seen_until: float = 0.0

    def report(self, line: str) -> None:
        """Say it once per command: the file is emptied after each command that found
        something in it, so an empty file means a new command."""
        if self.report_path is None:
            return
        with self.lock:
            try:
                fd = os.open(self.report_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                             | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError:
                return
            try:
                if os.fstat(fd).st_size == 0:
                    self.reported.clear()
                if line not in self.reported:
                    self.reported.add(line)
                    os.write(fd, (line + "\n").encode("utf-8", "replace"))
            except OSError:
                pass
            finally:
                os.close(fd)

    def made_from_changed(self) -> str | None:
        """Why the session must refuse every request, or None while it may serve.

        `wrap` resolves the profile again when one of these files changes; variables set by
        `pipwrap env` cannot be: they hold this session's token and the profile's index,
        upload URL and CA, so the agent could not make such a session follow a new config
        (nor resolve one: that takes the caller's environment and password source). A
        session that kept serving would keep rules the user may have tightened since
        (a `reserved` added after a squatted name was heard of), so it fails closed and says
        how to get the current ones. The files' identities (paths.file_identity: inode,
        size, mtime and the ctime a writer cannot set back) as they were before reading.
        """
        made_from = self.made_from  # replaced whole when `pipwrap env` renews the session
        if made_from is None:
            return None
        now_seconds = time.monotonic()
        if now_seconds < self.made_from_seen_until:
            return None
        for path, identity in made_from:
            now = file_identity(path)
            if now != identity:
                what = "appeared" if identity is None else "was removed" if now is None \
                    else "changed"
                name = f" for profile {self.profile!r}" if self.profile else ""
                return (f"{path} {what} since `pipwrap env` made this session{name}: the "
                        "profile may differ now or be gone, and the session does not keep "
                        "the old rules; run `pipwrap env` again and load what it prints, "
                        "as before")
        self.made_from_seen_until = now_seconds + MADE_FROM_RECHECK
        return None

    def close(self) -> None:
        with self.lock:
            if self.report_path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self.report_path)
                self.report_path = None


def is_login_refused(session: Session, decision: Decision, status: int) -> bool:
    """A server's answer to a request the fence adds the profile's login to, refusing it:
    a 401 would make pip ask for a user and password (and wait on stdin), and whatever is
    typed is replaced by the profile's login anyway. A 403 counts only when a login was
    sent (without one, it is the server's own answer, passed on)."""
    return decision.add_login and (status == 401 or (status == 403 and session.login is not None))


# The most of a refusal's text/plain body the fence reads and repeats: `pipwrap serve`'s
# sentences are one line of ~150 bytes; anything longer is not a sentence for a person.
SERVER_REASON_MAX = 1024


def server_reason(body: bytes, login: tuple[str, str] | None) -> str:
    """A refusal's plain-text body as one printable line (it goes to the user's terminal:
    no control characters), or "" when it is too long to be a reason. The profile's
    password is masked in case a server echoes the request back."""
    if len(body) > SERVER_REASON_MAX:
        return ""
    text = body.decode("utf-8", "replace")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if login is not None and login[1]:
        text = text.replace(login[1], "****")
    return text


def login_refused(session: Session, method: str, url: str, status: int,
                  said: str = "") -> tuple[str, str]:
    """(the status line's reason phrase, the message naming the profile and its login's
    source) for a server's ``status`` to a request that carried the profile's login;
    ``said``: the server's own reason (its body), which the message repeats."""
    name = session.profile or ""
    profile = f"profile {name!r}" if name else "the profile"
    shown = policy_mod.canonical_url(url) or url
    if session.login is None:
        return (f"Login needed for pipwrap profile {name}".rstrip(),
                f"pipwrap fence: {method} {shown}: the server wants a login (HTTP {status}) "
                f"and {profile} has no login; give it a username and a password source "
                f"(pipwrap add --force {name or 'NAME'} URL --username USER --password-env VAR)")
    source = f"; that login is {session.login_source}" if session.login_source else ""
    if status == 403 and said:
        # The server said why (serve: "bob is not an owner of foo here; ..."): no guessing.
        return (f"Access refused for pipwrap profile {name}".rstrip(),
                f"pipwrap fence: {method} {shown}: the server refused access with the login "
                f"of {profile} (HTTP 403){source}; the server says: {said}")
    if status == 403:
        # 403 is also "this login may not do this" (a read-only login, a project it does
        # not own): not only a wrong password.
        return (f"Access refused for pipwrap profile {name}".rstrip(),
                f"pipwrap fence: {method} {shown}: the server refused access with the login "
                f"of {profile} (HTTP 403){source}. Either that password is wrong (fix it where "
                "it comes from) or this login may not do this here (a read-only login, an "
                "upload to a project it does not own): ask the server's operator")
    return (f"Login refused for pipwrap profile {name}".rstrip(),
            f"pipwrap fence: {method} {shown}: the server refused the login of {profile} "
            f"(HTTP {status}){source}. The fence adds it to every request to this server (a "
            "login typed at a prompt would not be used): fix the password where it comes from")
