"""Build tiny real distributions (wheels, sdists) without a build backend or network."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _metadata(name: str, version: str, requires_python: str | None,
              requires_dist: tuple[str, ...] = ()) -> bytes:
    text = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        text += f"Requires-Python: {requires_python}\n"
    text += "".join(f"Requires-Dist: {r}\n" for r in requires_dist)
    return (text + "\n").encode()


def make_wheel(directory: Path, name: str, version: str, origin: str, *,
               requires_python: str | None = None, metadata_name: str | None = None,
               metadata_version: str | None = None,
               requires_dist: tuple[str, ...] = (), console_script: str | None = None) -> Path:
    """A wheel whose module records where it came from: ``import foo; foo.ORIGIN``.

    ``console_script`` names a command that prints ``ORIGIN VERSION`` (``foo.main``).

    ``metadata_name``/``metadata_version`` make a wheel whose metadata contradicts its name.
    """
    module = _normalize(name)
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": (f"ORIGIN = {origin!r}\nVERSION = {version!r}\n" + (
            "\n\ndef main() -> None:\n    print(ORIGIN, VERSION)\n" if console_script else "")
        ).encode(),
        f"{dist_info}/METADATA": _metadata(metadata_name or name, metadata_version or version,
                                           requires_python, requires_dist),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: pipwrap-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    if console_script:
        files[f"{dist_info}/entry_points.txt"] = (
            f"[console_scripts]\n{console_script} = {module}:main\n".encode())
    record_lines = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files.items()]
    record_lines.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return target


def make_sdist(directory: Path, name: str, version: str, *,
               metadata_name: str | None = None) -> Path:
    """An sdist holding only PKG-INFO: enough to be indexed, not to be built."""
    top = f"{_normalize(name)}-{version}"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{top}.tar.gz"
    data = _metadata(metadata_name or name, version, None)
    with tarfile.open(target, "w:gz") as archive:
        info = tarfile.TarInfo(f"{top}/PKG-INFO")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return target
