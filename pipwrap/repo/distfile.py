"""What a distribution file is: its project, version and core metadata.

The file name is parsed by ``packaging``'s own wheel and sdist parsers (the same rules pip
and uv apply), and the core metadata is read from inside the archive, so a file whose
metadata contradicts its name is caught before it is published under that name.
"""

from __future__ import annotations

import re
import tarfile
import zipfile

from pipwrap.errors import PipwrapError

_SEPARATORS = re.compile(r"[-_.]+")
# A normalized project name that can be a URL path segment and a directory name.
PROJECT_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
SDIST_SUFFIXES = (".tar.gz", ".zip")
# Anything bigger is not metadata; refusing it keeps a hostile archive from eating memory.
METADATA_LIMIT = 16 * 1024 * 1024
TAR_MEMBER_LIMIT = 10_000


def normalize(name: str) -> str:
    """PEP 503 normalization: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return _SEPARATORS.sub("-", name).lower()


def looks_like_distribution(filename: str) -> bool:
    return filename.endswith((".whl", *SDIST_SUFFIXES))


def same_bytes(first: str, second: str) -> bool:
    import filecmp

    return filecmp.cmp(first, second, shallow=False)


class DistFile:
    """A distribution file's identity from its name: ``project`` is normalized."""

    __slots__ = ("filename", "is_wheel", "project", "version")

    def __init__(self, filename: str, project: str, version: str, is_wheel: bool) -> None:
        self.filename = filename
        self.project = project
        self.version = version
        self.is_wheel = is_wheel

    def __repr__(self) -> str:
        return f"DistFile({self.filename!r})"


def release_key(dist: DistFile) -> tuple[str, ...]:
    """What makes two files the same release artifact, however their names are spelled:
    ``foo-1.0-py3-none-any.whl`` and ``FOO-1.0.0-py3-none-any.whl`` are one wheel."""
    from packaging.utils import canonicalize_version, parse_wheel_filename

    version = canonicalize_version(dist.version)  # 1.0 and 1.0.0 are one version
    if dist.is_wheel:
        _name, _version, build, tags = parse_wheel_filename(dist.filename)
        return (dist.project, version, "wheel", str(build), *sorted(str(t) for t in tags))
    return (dist.project, version, "sdist")


def parse_filename(filename: str) -> DistFile:
    """The project and version a file name declares; PipwrapError if it is not a dist."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            dist = DistFile(filename, normalize(name), str(version), True)
        elif filename.endswith(SDIST_SUFFIXES):
            name, version = parse_sdist_filename(filename)
            dist = DistFile(filename, normalize(name), str(version), False)
        else:
            dist = None
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise PipwrapError(f"{filename}: not a valid distribution file name ({exc})") from None
    if dist is not None:
        if filename.startswith(".") or not PROJECT_NAME.fullmatch(dist.project):
            raise PipwrapError(f"{filename}: {dist.project!r} is not a valid project name")
        return dist
    raise PipwrapError(
        f"{filename}: not a distribution (expected a wheel .whl or an sdist .tar.gz/.zip)"
    )


class Metadata:
    """The fields of core metadata the index needs, and the raw bytes for ``.metadata``."""

    __slots__ = ("name", "raw", "requires_python", "version")

    def __init__(self, raw: bytes, name: str, version: str, requires_python: str | None):
        self.raw = raw
        self.name = name
        self.version = version
        self.requires_python = requires_python


def parse_metadata(raw: bytes, where: str) -> Metadata:
    """Read the header fields of a METADATA / PKG-INFO file (RFC 822 style)."""
    text = raw.decode("utf-8", errors="surrogateescape")
    fields: dict[str, str] = {}
    last = ""
    # Lines end at CR/LF only, as the email parser pip and uv use reads them; splitlines()
    # would also split at \x1c, \x85, \u2028..., and a hidden "Name:" would be read here.
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            break  # the body (the long description) starts here
        if line[0] in " \t" and last:
            fields[last] += " " + line.strip()
            continue
        key, colon, value = line.partition(":")
        if not colon:
            continue
        last = key.strip().lower()
        fields.setdefault(last, value.strip())
    name, version = fields.get("name"), fields.get("version")
    if not name or not version:
        raise PipwrapError(f"{where}: its core metadata has no Name or Version")
    return Metadata(raw, name, version, fields.get("requires-python") or None)


def _member(names: list[str], suffix: str, where: str) -> str:
    """The one archive member ``<top>/<suffix>`` at depth one."""
    found = [n for n in names if n.count("/") == 1 and n.endswith("/" + suffix)]
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise PipwrapError(f"{where}: {what} {suffix} at the top of the archive")
    return found[0]


def _read_zip(path: str, suffix: str, where: str, dist_info: bool) -> bytes:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if dist_info:
            candidates = [n for n in names if n.count("/") == 1
                          and n.split("/")[0].endswith(".dist-info") and n.endswith("/METADATA")]
            if len(candidates) != 1:
                raise PipwrapError(f"{where}: expected exactly one *.dist-info/METADATA")
            member = candidates[0]
        else:
            member = _member(names, suffix, where)
        info = archive.getinfo(member)
        if info.file_size > METADATA_LIMIT:
            raise PipwrapError(f"{where}: {member} is too large to be metadata")
        return archive.read(member)


def _read_tar(path: str, where: str) -> bytes:
    with tarfile.open(path, "r:gz") as archive:
        for count, member in enumerate(archive):
            if count > TAR_MEMBER_LIMIT:
                break  # PKG-INFO comes first in every sdist a build backend writes
            if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                if not member.isfile() or member.size > METADATA_LIMIT:
                    raise PipwrapError(f"{where}: {member.name} is not a small regular file")
                handle = archive.extractfile(member)
                if handle is not None:  # always, for a regular file
                    return handle.read()
    raise PipwrapError(f"{where}: no PKG-INFO at the top of the archive")


def read_metadata(path: str, dist: DistFile) -> Metadata:
    """The core metadata inside the file, checked against what its name says."""
    where = path
    try:
        if dist.is_wheel:
            raw = _read_zip(path, "METADATA", where, dist_info=True)
        elif dist.filename.endswith(".zip"):
            raw = _read_zip(path, "PKG-INFO", where, dist_info=False)
        else:
            raw = _read_tar(path, where)
    except PipwrapError:
        raise
    except OSError as exc:
        if exc.filename:
            raise PipwrapError(f"{where}: {exc.strerror}") from None
        raise PipwrapError(f"{where}: not a readable archive ({exc})") from None
    except Exception as exc:
        # zlib.error, NotImplementedError (compression method), RuntimeError (encrypted),
        # ValueError...: a hostile archive is refused, never a traceback that stops the
        # whole index.
        raise PipwrapError(f"{where}: not a readable archive ({exc})") from None
    metadata = parse_metadata(raw, where)
    if normalize(metadata.name) != dist.project:
        raise PipwrapError(
            f"{where}: its metadata names project {metadata.name!r}, but the file name says "
            f"{dist.project!r}"
        )
    from packaging.version import InvalidVersion, Version

    try:
        same = Version(metadata.version) == Version(dist.version)
    except InvalidVersion:
        same = False
    if not same:
        raise PipwrapError(
            f"{where}: its metadata says version {metadata.version!r}, but the file name "
            f"says {dist.version!r}"
        )
    return metadata
