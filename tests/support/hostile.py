"""Hostile distributions, generated cheaply: compression bombs, lying sizes, stray metadata."""

from __future__ import annotations

import gzip
import io
import struct
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

MIB = 1024 * 1024


def _raw_deflate_zeros(prefix: bytes, zeros_mib: int) -> tuple[bytes, int, int]:
    """``prefix`` then ``zeros_mib`` MiB of zeros as raw deflate: (data, crc32, size).

    One MiB is compressed once and repeated (a full flush makes each copy independent),
    so a 512 MiB bomb costs a few milliseconds to make.
    """
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = first.compress(prefix) + first.flush(zlib.Z_FULL_FLUSH)
    piece_maker = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = piece_maker.compress(b"\0" * MIB) + piece_maker.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    crc = zlib.crc32(prefix)
    zeros = b"\0" * MIB
    for _ in range(zeros_mib):
        crc = zlib.crc32(zeros, crc)
    return head + piece * zeros_mib + tail, crc, len(prefix) + zeros_mib * MIB


def write_zip(path: Path, members: list[tuple[str, bytes, int, int, int, int]]) -> Path:
    """A zip from (name, stored bytes, method, crc, compressed size, declared size)."""
    out = io.BytesIO()
    central = b""
    for name, data, method, crc, compressed, declared in members:
        encoded = name.encode()
        offset = out.tell()
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21,
                              crc, compressed, declared, len(encoded), 0))
        out.write(encoded)
        out.write(data)
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0,
                               0x21, crc, compressed, declared, len(encoded), 0, 0, 0, 0,
                               0o644 << 16, offset) + encoded
    start = out.tell()
    out.write(central)
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members),
                          len(central), start, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())
    return path


def stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int, int]:
    return (name, data, 0, zlib.crc32(data), len(data), len(data))


def metadata_bomb_wheel(directory: Path, name: str = "bomb", version: str = "1.0",
                        zeros_mib: int = 512) -> Path:
    """A ~0.5 MB wheel whose METADATA inflates to ``zeros_mib`` MiB, declaring 100 bytes."""
    header = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()
    data, crc, _size = _raw_deflate_zeros(header, zeros_mib)
    dist_info = f"{name}-{version}.dist-info"
    return write_zip(directory / f"{name}-{version}-py3-none-any.whl", [
        stored(f"{name}/__init__.py", b""),
        (f"{dist_info}/METADATA", data, 8, crc, len(data), 100),
        stored(f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nTag: py3-none-any\n"),
    ])


def zeros_before_pkg_info_sdist(directory: Path, name: str = "zeros", version: str = "1.0",
                                 zeros_gib: int = 8) -> Path:
    """A ~8 MB sdist: a member of ``zeros_gib`` GiB of zeros, then PKG-INFO.

    Gzip members concatenate: one compressed 64 MiB of zeros is repeated.
    """
    top = f"{name}-{version}"
    size = zeros_gib * 1024 * MIB
    big = tarfile.TarInfo(f"{top}/data.bin")
    big.size = size
    first = gzip.compress(big.tobuf(format=tarfile.GNU_FORMAT), 1)
    chunk = gzip.compress(b"\0" * (64 * MIB), 9)
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()
    info = tarfile.TarInfo(f"{top}/PKG-INFO")
    info.size = len(metadata)
    buffer = io.BytesIO()
    buffer.write(info.tobuf(format=tarfile.GNU_FORMAT))
    buffer.write(metadata + b"\0" * (-len(metadata) % 512))
    buffer.write(b"\0" * 1024)
    last = gzip.compress(buffer.getvalue(), 9)
    path = directory / f"{top}.tar.gz"
    directory.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(first)
        for _ in range(size // (64 * MIB)):
            handle.write(chunk)
        handle.write(last)
    return path


def peak_rss_mb(argv: list[str], env: dict[str, str], timeout: float = 120
                ) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``argv`` under a fresh Python parent and return its peak RSS (its children's)."""
    probe = (
        "import json, resource, subprocess, sys\n"
        "argv = json.loads(sys.argv[1])\n"
        "done = subprocess.run(argv, capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps([done.returncode, done.stdout, done.stderr, peak]))\n"
    )
    import json

    wrapper = subprocess.run([sys.executable, "-c", probe, json.dumps(argv)], env=env,
                             capture_output=True, text=True, timeout=timeout, check=True)
    code, out, err, peak = json.loads(wrapper.stdout)
    return subprocess.CompletedProcess(argv, code, out, err), peak / 1024
