"""What a distribution file is: its project, version and core metadata.

The file name is parsed by ``packaging``'s own wheel and sdist parsers (the same rules pip
and uv apply), and the core metadata is read from inside the archive, so a file whose
metadata contradicts its name is caught before it is published under that name.
"""

from __future__ import annotations

import os
import re
import tarfile
import zipfile

from pipwrap.errors import PipwrapError

_SEPARATORS = re.compile(r"[-_.]+")
# A normalized project name (PEP 503: no run of separators, so never `foo--bar`) that can
# be a URL path segment and a directory name. Every place that matches a requested name
# against the tree uses it: `foo--bar` is another spelling of a held `foo-bar`, and must
# never be looked up (or fetched upstream) as a name of its own.
PROJECT_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SDIST_SUFFIXES = (".tar.gz", ".zip")
# Budgets for reading archives (see docs/hosting.md): a hostile file is refused cheaply.
# Anything bigger is not metadata; refusing it keeps a hostile archive from eating memory.
METADATA_LIMIT = 16 * 1024 * 1024
# Inflated metadata may outgrow its compressed bytes this many times (text: 3-10x) once
# past RATIO_FLOOR.
RATIO_LIMIT = 100
RATIO_FLOOR = 1024 * 1024
# Members of an archive (zip central directory, tar members read before PKG-INFO).
MEMBER_LIMIT = 100_000
# Uncompressed bytes of an sdist read or skipped while looking for PKG-INFO.
SDIST_SCAN_LIMIT = 256 * 1024 * 1024
CHUNK = 64 * 1024


def normalize(name: str) -> str:
    """PEP 503 normalization: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return _SEPARATORS.sub("-", name).lower()


def looks_like_distribution(filename: str) -> bool:
    return filename.endswith((".whl", *SDIST_SUFFIXES))


def same_bytes(first: str, second: str) -> bool:
    import filecmp

    return filecmp.cmp(first, second, shallow=False)


# What a published name must leave room for: its ``.metadata`` file beside it.
NAME_SUFFIX_ROOM = len(".metadata")


def name_max(directory: str) -> int:
    """The longest file name (in bytes) the file system under ``directory`` takes."""
    while True:
        try:
            return int(os.pathconf(directory, "PC_NAME_MAX"))
        except FileNotFoundError:
            parent = os.path.dirname(directory)
            if parent == directory:
                return 255
            directory = parent
        except (OSError, ValueError):
            return 255


def check_name_length(directory: str, filename: str, limit: int | None = None) -> None:
    """Refuse, up front, a name whose ``.metadata`` file could not be created."""
    allowed = (limit if limit is not None else name_max(directory)) - NAME_SUFFIX_ROOM
    length = len(os.fsencode(filename))
    if length > allowed:
        raise PipwrapError(f"{filename}: name is too long for the file system at "
                           f"{directory} ({length} bytes; at most {allowed}, room is kept "
                           "for its .metadata file)")


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


def _zip_entry_count(handle: object) -> int | None:
    """The member count the end-of-central-directory record declares, read before
    zipfile builds one object per member (a hostile directory of millions would cost
    gigabytes); None if the record cannot be found (zipfile then says what is wrong)."""
    try:
        record = zipfile._EndRecData(handle)  # type: ignore[attr-defined]
    except (OSError, AttributeError, ValueError):
        return None
    if not record:
        return None
    return int(record[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]


def _wheel_dist_info(names: list[str], dist: DistFile, where: str) -> str:
    """The wheel's one ``<name>-<version>.dist-info`` directory, matching its file name.

    pip refuses a wheel with two ``.dist-info`` directories, and installs the metadata of
    the one it finds: a stray ``other-9.9.dist-info`` would publish metadata pip refuses
    (or another project's).
    """
    from packaging.version import InvalidVersion, Version

    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    found = sorted(t for t in tops if t.endswith(".dist-info"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(found[:4])})"
        raise PipwrapError(f"{where}: expected exactly one <name>-<version>.dist-info "
                           f"directory, found {what}")
    stem = found[0].removesuffix(".dist-info")
    name, dash, version = stem.rpartition("-")
    try:
        same_version = bool(dash) and Version(version) == Version(dist.version)
    except InvalidVersion:
        same_version = False
    if not dash or normalize(name) != dist.project or not same_version:
        raise PipwrapError(f"{where}: its {found[0]} does not match the file name "
                           f"({dist.project} {dist.version})")
    return f"{found[0]}/METADATA"


def _inflate(archive: zipfile.ZipFile, member: str, where: str) -> bytes:
    """A member's bytes, inflated in chunks under a byte and a ratio budget.

    The sizes a zip declares are not trusted: a 0.5 MB wheel can hold a METADATA that
    inflates to gigabytes. Reading stops at METADATA_LIMIT, or once the output passes
    RATIO_FLOOR and outgrows the compressed input RATIO_LIMIT times.
    """
    info = archive.getinfo(member)
    if info.file_size > METADATA_LIMIT:
        raise PipwrapError(f"{where}: {member} is too large to be metadata")
    budget = min(METADATA_LIMIT, max(RATIO_FLOOR, info.compress_size * RATIO_LIMIT))
    chunks: list[bytes] = []
    total = 0
    with archive.open(info) as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > budget:
                raise PipwrapError(f"{where}: {member} inflates beyond {budget // 1024} KiB "
                                   "(a compression bomb?); refused")
            chunks.append(chunk)
    return b"".join(chunks)


def _read_zip(path: str, dist: DistFile, where: str) -> bytes:
    with open(path, "rb") as handle:
        count = _zip_entry_count(handle)
        if count is not None and count > MEMBER_LIMIT:
            raise PipwrapError(f"{where}: {count} archive members, more than the "
                               f"{MEMBER_LIMIT} a distribution may have; refused")
        handle.seek(0)
        with zipfile.ZipFile(handle) as archive:
            names = archive.namelist()
            if dist.is_wheel:
                member = _wheel_dist_info(names, dist, where)
                if member not in names:
                    raise PipwrapError(f"{where}: no {member} in the wheel")
            else:
                member = _member(names, "PKG-INFO", where)
            return _inflate(archive, member, where)


class _Budgeted:
    """A read-only stream that refuses to go past ``limit`` bytes of its content.

    Under a tar reader, this bounds everything it decompresses: member data it skips (a
    forward seek in a gzip stream inflates what it skips), pax and long-name headers it
    reads whole into memory.
    """

    def __init__(self, raw: object, limit: int, where: str) -> None:
        self._raw = raw
        self._limit = limit
        self._where = where

    def _refuse(self) -> PipwrapError:
        return PipwrapError(f"{self._where}: no PKG-INFO within the first "
                            f"{self._limit // (1024 * 1024)} MiB of the archive; refused")

    def read(self, size: int = -1) -> bytes:
        position = self._raw.tell()  # type: ignore[attr-defined]
        if size is None or size < 0 or position + size > self._limit:
            size = self._limit - position + 1
        data: bytes = self._raw.read(size)  # type: ignore[attr-defined]
        if position + len(data) > self._limit:
            raise self._refuse()
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset if whence == 0 else self._raw.tell() + offset  # type: ignore[attr-defined]
        if whence not in (0, 1):
            raise OSError("unsupported seek")
        if target > self._limit:
            raise self._refuse()
        return int(self._raw.seek(target))  # type: ignore[attr-defined]

    def tell(self) -> int:
        return int(self._raw.tell())  # type: ignore[attr-defined]


def _read_tar(path: str, where: str) -> bytes:
    import gzip

    with gzip.open(path, "rb") as raw:
        stream = _Budgeted(raw, SDIST_SCAN_LIMIT, where)
        with tarfile.open(fileobj=stream, mode="r:") as archive:  # type: ignore[call-overload]
            for count, member in enumerate(archive):
                if count >= MEMBER_LIMIT:
                    break  # PKG-INFO comes early in every sdist a build backend writes
                if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                    if not member.isfile() or member.size > METADATA_LIMIT:
                        raise PipwrapError(f"{where}: {member.name} is not a small regular "
                                           "file")
                    handle = archive.extractfile(member)
                    if handle is not None:  # always, for a regular file
                        data: bytes = handle.read(member.size)
                        return data
                if member.offset_data + member.size > SDIST_SCAN_LIMIT:
                    raise stream._refuse()  # stop before inflating what it would skip
    raise PipwrapError(f"{where}: no PKG-INFO at the top of the archive")


def read_metadata(path: str, dist: DistFile) -> Metadata:
    """The core metadata inside the file, checked against what its name says."""
    where = path
    try:
        if dist.filename.endswith((".whl", ".zip")):
            raw = _read_zip(path, dist, where)
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
