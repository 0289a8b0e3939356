"""Who may publish what on ``pipwrap serve``: per-user rights, project owners, and which
files may join a release already published.

The model is PyPI's, cut to what a team index needs (docs/hosting-team.md):

- **Rights.** A login may read, or read and upload. Without a permissions file every login
  may upload (``--htpasswd`` alone, as before); with one (``serve --permissions FILE``),
  only the users it grants ``upload`` may, and every other login reads only: a
  credential handed out for reading (CI, laptops) cannot publish.
- **Owners.** The first login to upload a new project owns it (PyPI's rule); only its
  owners may upload to it afterwards. The operator manages owners with ``pipwrap repo
  owner``. Owners live in the tree (``.pipwrap/owners.json``), so a backup keeps them.
- **The upstream's names.** With a fallback (or ``--cache``), a name the upstream serves
  belongs to the upstream until the operator claims it (``repo owner add``): the first
  upload of a name the tree neither holds nor has claimed asks the upstream first
  (:class:`UpstreamNames`). Otherwise that upload would hide the upstream's files of the
  name (local-first), and a stolen upload token would change what ``NAME==1.9`` installs.
- **Releases.** A release (a version with files) takes new files only when they cannot
  change what an installer picks for ``==VERSION`` (:func:`check_release`).

Every decision is here, none in the HTTP server: the server asks :meth:`Policy.before_body`
once it knows the login, and the upload (``upload.receive``) asks :func:`admit` under the
tree's lock once it knows the file.
"""

from __future__ import annotations

import os
import re
import threading
from urllib.parse import quote

from pipwrap.errors import PipwrapError
from pipwrap.repo import index
from pipwrap.repo.auth import file_stamp
from pipwrap.repo.distfile import DistFile, parse_filename
from pipwrap.repo.owners import load_owners, save_owners

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from pipwrap.repo.upstream import Login, Upstream

RIGHTS = ("read", "upload")
RETRY_AFTER_FAILURE = 15  # seconds an upstream that failed to answer is not asked again


class Refusal(Exception):
    """An upload this server will not take: the HTTP status and the one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- rights: the permissions file -------------------------------------------------------


def load_rights(path: str) -> dict[str, str]:
    """user -> "read" or "upload" from a TOML file's ``[users]`` table; every problem is
    a PipwrapError naming the file (and line, where TOML gives it)."""
    from pipwrap import tomlfile

    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
    except OSError as exc:
        raise PipwrapError(f"--permissions {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PipwrapError(f"--permissions {path}: not UTF-8 text") from None
    data = tomlfile.loads(text, f"--permissions {path}")
    unknown = sorted(set(data) - {"users"})
    if unknown:
        raise PipwrapError(f"--permissions {path}: unknown table or key {unknown[0]!r} "
                           "(expected [users])")
    users = data.get("users", {})
    if not isinstance(users, dict):
        raise PipwrapError(f"--permissions {path}: users must be a table ([users])")
    rights: dict[str, str] = {}
    for user, right in users.items():
        if right not in RIGHTS:
            raise PipwrapError(f"--permissions {path}: [users] {user} = {right!r}: expected "
                               '"read" or "upload"')
        rights[str(user)] = str(right)
    return rights


class Rights:
    """The permissions file, re-read when it changes (grant or revoke without a restart).

    A file that stops parsing, or goes away, grants no upload to anyone until it is fixed
    (fail closed; reading is not affected), and the log says so.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = file_stamp(path)
        self._rights = load_rights(path)

    def right(self, user: str) -> str:
        stamp = file_stamp(self.path)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    import sys

                    try:
                        self._rights = load_rights(self.path)
                    except PipwrapError as exc:
                        self._rights = {}
                        sys.stderr.write(f"pipwrap serve: {exc}; no login may upload until "
                                         "it is fixed\n")
                    self._stamp = stamp
        return self._rights.get(user, "read")


class UpstreamNames:
    """Whether the server's fallback index serves a project, asked with the cache's HTTP
    client (:mod:`.upstream`: its allowed hosts, login and deadlines), made on first use
    (serve without ``--cache`` loads urllib3 only when an upload needs it)."""

    def __init__(self, url: str, login: Login | None = None,
                 allow_hosts: frozenset[str] = frozenset(),
                 timeout: float | None = None) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self._login = login
        self._hosts = allow_hosts
        self._timeout = timeout
        self._client: Upstream | None = None
        self._lock = threading.Lock()
        # After a failure the next asks fail at once for a while: twine and uv retry a
        # 503 several times, and each would otherwise wait the whole timeout again.
        self._failed: tuple[float, str] | None = None

    def serves(self, project: str) -> bool:
        """True: the upstream has a page for ``project``; False: it answers 404 or 410.
        Anything else raises :class:`pipwrap.repo.upstream.Failed`."""
        import time

        from pipwrap.repo import upstream

        with self._lock:
            if self._client is None:
                self._client = upstream.Upstream(self.url, self._login, set(self._hosts),
                                                 self._timeout or upstream.TIMEOUT)
            failed = self._failed
        if failed is not None and time.monotonic() < failed[0]:
            raise upstream.Failed(failed[1])
        accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
        try:
            with self._client.get(f"{self.url}{quote(project)}/", {"Accept": accept}):
                return True  # its body is not needed: the name is taken
        except upstream.Missing:
            return False
        except upstream.Failed as exc:
            self._failed = (time.monotonic() + RETRY_AFTER_FAILURE,
                            f"{exc}; not asked again for {RETRY_AFTER_FAILURE} s")
            raise


class Policy:
    """Who may upload on one server: ``rights`` (None: every login may), whether uploads
    carry a login, which turns project ownership on, and the upstream whose names are
    not claimed by a first upload (None: no fallback)."""

    def __init__(self, rights: Rights | None = None, *, owners: bool = False,
                 upstream: UpstreamNames | None = None) -> None:
        self.rights = rights
        self.owners = owners
        self.upstream = upstream

    def check_upstream(self, root: str, project: str, user: str | None) -> None:
        """Refuse the first upload of a name the upstream serves. Asked before the tree's
        lock is taken (the upstream may take its whole timeout), for a name the tree does
        not hold (no directory: no files, no tombstone) and no owner was given; under the
        lock :func:`admit` then claims it, or finds it claimed meanwhile."""
        if self.upstream is None or os.path.lexists(os.path.join(root, project)) \
                or load_owners(root).get(project):
            return
        from pipwrap.repo.upstream import Failed

        claim = f"pipwrap repo owner add {project} {user or 'USER'}"
        try:
            served = self.upstream.serves(project)
        except Failed as exc:
            raise Refusal(503, f"cannot tell whether the upstream serves {project} "
                          f"({exc}); a first upload of a name waits for the upstream's "
                          f"answer, or for an operator to claim the name: {claim}") from None
        if served:
            raise Refusal(403, f"{project} is served from the upstream ({self.upstream.url}); "
                          "an upload would hide its files here, so an operator claims it "
                          f"for this index first: {claim}")

    def before_body(self, user: str | None) -> Refusal | None:
        """Refused before the body is read: a login that may read but not upload."""
        if self.rights is not None and user is not None \
                and self.rights.right(user) != "upload":
            return Refusal(403, f"{user} may read but not upload here (the server's "
                           "permissions file grants upload)")
        return None


# -- releases: what may join one --------------------------------------------------------

_INTERPRETER = re.compile(r"([a-z]+)(\d)(\d*)")
_LINUX = re.compile(r"(manylinux(?:1|2010|2014|_\d+_\d+)|musllinux_\d+_\d+|linux)_(.+)")
_MACOS = re.compile(r"macosx_\d+_\d+_(.+)")
# Which machines a macOS architecture tag runs on.
_MAC_MACHINES = {
    "arm64": {"arm64"}, "x86_64": {"x86_64"}, "i386": {"i386"}, "ppc": {"ppc"},
    "ppc64": {"ppc64"}, "universal2": {"arm64", "x86_64"}, "intel": {"x86_64", "i386"},
    "fat": {"i386", "ppc"}, "fat3": {"x86_64", "i386", "ppc"}, "fat64": {"x86_64", "ppc64"},
    "universal": {"x86_64", "i386", "ppc", "ppc64"},
}


def _pythons(interpreter: str, abi: str) -> tuple[str, int, int, int] | None:
    """(implementation or "*", major, lowest minor, highest minor) a tag installs on;
    None: unknown, assumed to meet anything. ``py3`` and ``py311`` are generic (every
    interpreter of 3.x, or of 3.11 and later, takes them), ``cp39-abi3`` is CPython 3.9
    and later, ``cp311`` is CPython 3.11 only."""
    found = _INTERPRETER.fullmatch(interpreter)
    if found is None:
        return None
    implementation, major, minor = found[1], int(found[2]), found[3]
    if implementation == "py":
        return ("*", major, int(minor) if minor else 0, 99)
    if not minor:
        return (implementation, major, 0, 99)
    if abi == "abi3":
        return (implementation, major, int(minor), 99)
    return (implementation, major, int(minor), int(minor))


def _pythons_meet(a: tuple[str, int, int, int] | None,
                  b: tuple[str, int, int, int] | None) -> bool:
    if a is None or b is None:
        return True
    return ((a[0] == b[0] or "*" in (a[0], b[0])) and a[1] == b[1]
            and a[2] <= b[3] and b[2] <= a[3])


def _platforms_meet(a: str, b: str) -> bool:
    """Could one machine install wheels of both platform tags?"""
    if a == b or "any" in (a, b):
        return True
    linux_a, linux_b = _LINUX.fullmatch(a), _LINUX.fullmatch(b)
    if linux_a or linux_b:
        if not (linux_a and linux_b) or linux_a[2] != linux_b[2]:
            return False
        libcs = {linux_a[1][:4], linux_b[1][:4]}  # "many", "musl", "linu"
        return libcs != {"many", "musl"}  # a glibc machine never takes musllinux
    mac_a, mac_b = _MACOS.fullmatch(a), _MACOS.fullmatch(b)
    if mac_a or mac_b:
        if not (mac_a and mac_b):
            return False
        everything = {"arm64", "x86_64", "i386", "ppc", "ppc64"}
        return bool(_MAC_MACHINES.get(mac_a[1], everything)
                    & _MAC_MACHINES.get(mac_b[1], everything))
    if a.startswith("win") or b.startswith("win"):
        return False  # win32, win_amd64, win_arm64: one each, and never another OS
    return a.split("_", 1)[0] == b.split("_", 1)[0]  # an OS we do not know: by its name


def _tags(filename: str) -> frozenset[tuple[str, str, str]]:
    from packaging.utils import parse_wheel_filename

    _name, _version, _build, tags = parse_wheel_filename(filename)
    return frozenset((t.interpreter, t.abi, t.platform) for t in tags)


def wheels_meet(first: str, second: str) -> bool:
    """Could one environment install either wheel (so an installer chooses between them)?"""
    return any(
        _pythons_meet(_pythons(ia, aa), _pythons(ib, ab)) and _platforms_meet(pa, pb)
        for ia, aa, pa in _tags(first) for ib, ab, pb in _tags(second))


def _pure(filename: str) -> bool:
    return all(platform == "any" for _i, _a, platform in _tags(filename))


def release_files(root: str, dist: DistFile) -> list[DistFile]:
    """The files already published for ``dist``'s release (1.0 and 1.0.0 are one)."""
    from packaging.utils import canonicalize_version

    wanted = canonicalize_version(dist.version)
    try:
        names = os.listdir(os.path.join(root, dist.project))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        if name.startswith(".") or name in index.PAGE_NAMES or name == dist.filename:
            continue
        try:
            other = parse_filename(name)
        except PipwrapError:
            continue
        if other.project == dist.project and canonicalize_version(other.version) == wanted:
            found.append(other)
    return found


def check_release(root: str, dist: DistFile) -> None:
    """Refuse an upload that could change what ``pip install NAME==VERSION`` installs.

    - A wheel with a build tag, always: a build tag exists to outrank a wheel with the
      same tags, that is, to replace a published file.
    - A wheel joining a release whose wheels an environment could choose it over: one
      environment could install both (a ``py311`` or ``cp311`` wheel meets ``py3``; a
      platform wheel meets ``any``), and the installer would pick by tag priority. A pure
      wheel may still join a release of platform wheels only: where both install, the
      platform wheel stays preferred, and elsewhere nothing was installable before but
      the sdist — unless the release has an sdist (below).
    - A wheel joining a release that has an sdist: every installer the wheel fits would
      take it instead of building the sdist, so a token could swap what ``==version``
      installs (the attacker's pass staged it). Wheels go first, the sdist last: twine and
      ``uv publish`` upload a release's files in that order.
    - A second sdist (``.zip`` beside ``.tar.gz``).
    """
    if dist.is_wheel:
        from packaging.utils import parse_wheel_filename

        if parse_wheel_filename(dist.filename)[2]:
            raise Refusal(400, f"{dist.filename}: a build tag cannot be uploaded: it exists "
                          "to outrank a published wheel of the same release (the operator "
                          "can add it with pipwrap repo add)")
    others = release_files(root, dist)
    if not others:
        return
    for other in others:
        if dist.is_wheel and other.is_wheel and wheels_meet(dist.filename, other.filename) \
                and not (_pure(dist.filename) and not _pure(other.filename)):
            raise Refusal(400, f"{dist.filename}: release {dist.version} of {dist.project} "
                          f"is published with {other.filename}, and an installer could "
                          f"choose this file over it for {dist.project}=={dist.version}; "
                          "release a new version instead")
        if dist.is_wheel and not other.is_wheel:
            raise Refusal(400, f"{dist.filename}: release {dist.version} of {dist.project} "
                          f"has an sdist ({other.filename}), and every installer this wheel "
                          f"fits would choose it over the sdist for "
                          f"{dist.project}=={dist.version}; upload wheels before the sdist, "
                          "or release a new version")
        if not dist.is_wheel and not other.is_wheel:
            raise Refusal(400, f"{dist.filename}: release {dist.version} of {dist.project} "
                          f"already has an sdist ({other.filename}); release a new version "
                          "instead")


def admit(root: str, dist: DistFile, user: str | None, policy: Policy, *,
          present: bool = False) -> Callable[[], None] | None:
    """Decide an upload of ``dist`` by ``user`` under the tree's lock: raise
    :class:`Refusal`, or return how to undo what was recorded (a new owner), if anything.

    With logins, a project is uploaded to only by its owners; a new name is claimed by
    its first uploader (with a fallback, once :meth:`Policy.check_upstream` found the
    upstream does not serve it); a name held here without an owner (added with ``repo add``, or
    before owners existed, or a removed project's held name) takes no upload until the
    operator gives it one. ``present``: the same bytes are already published (a re-run
    of twine): no release rule applies, nothing changes.
    """
    if not present:
        check_release(root, dist)
    if not policy.owners or user is None:
        return None
    owners = load_owners(root)
    current = owners.get(dist.project, [])
    if user in current:
        return None
    if current:
        raise Refusal(403, f"{user} is not an owner of {dist.project} here; its owners "
                      f"can add you (the operator: pipwrap repo owner add {dist.project} "
                      f"{user})")
    if os.path.lexists(os.path.join(root, dist.project)):
        raise Refusal(403, f"{dist.project} is held here and has no owner yet; the operator "
                      f"gives it one with: pipwrap repo owner add {dist.project} {user}")
    owners[dist.project] = [user]
    save_owners(root, owners)

    def undo() -> None:
        restored = load_owners(root)
        restored.pop(dist.project, None)
        save_owners(root, restored)

    return undo
