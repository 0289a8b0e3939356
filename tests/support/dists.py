"""Real, installable distributions made on the spot: wheels and sdists of tiny projects."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def metadata_text(name: str, version: str, requires_python: str | None = None,
                  requires: tuple[str, ...] = ()) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n\n"


def make_wheel(directory: Path, name: str, version: str, *, requires_python: str | None = None,
               requires: tuple[str, ...] = (), metadata_name: str | None = None,
               metadata_version: str | None = None, marker: str = "") -> Path:
    """A pure-Python wheel whose module ``<name>_mod`` holds ``VERSION`` (and ``MARK``)."""
    stem = re.sub(r"[-_.]+", "_", name).lower()
    module = f"{stem}_mod"
    dist_info = f"{stem}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\nMARK = {marker!r}\n".encode(),
        f"{dist_info}/METADATA": metadata_text(
            metadata_name or name, metadata_version or version, requires_python, requires
        ).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: pipwrap-tests\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [_record_line(path, data) for path, data in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def make_sdist(directory: Path, name: str, version: str, *,
               metadata_name: str | None = None) -> Path:
    """An sdist with PKG-INFO (not buildable; enough to be indexed and listed)."""
    stem = re.sub(r"[-_.]+", "_", name).lower()
    top = f"{stem}-{version}"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        data = metadata_text(metadata_name or name, version).encode()
        info = tarfile.TarInfo(f"{top}/PKG-INFO")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path
