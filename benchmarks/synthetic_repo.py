"""A synthetic package repository: many small, real wheels and sdists.

    .venv/bin/python benchmarks/synthetic_repo.py OUT_DIR [--projects 1000] [--files 5000]
        [--layout tree|flat] [--seed 0]

Mostly wheels (real zip files holding ``NAME-VER.dist-info/{METADATA,WHEEL,RECORD}`` and one
tiny module), a few sdists (``.tar.gz`` with ``NAME-VER/PKG-INFO``). File names are the
normalized ``foo_bar-1.0-py3-none-any.whl`` / ``foo_bar-1.0.tar.gz``; the metadata ``Name``
is spelled messily (``FOO-bar``, ``Foo_Bar``, ``foo.BAR``) so normalization is exercised. No
two projects collide after PEP 503 normalization.

The project ``foo-bar`` is always there with wheels 1.5.0, 1.6.0 and 1.7.0; 1.7.0 says
``Requires-Python: >=3.99``, so a client must install 1.6.0.

``--layout tree`` (default) writes ``OUT_DIR/<normalized-name>/<file>``, the layout of
``pipwrap repo``; ``--layout flat`` writes every file directly in OUT_DIR (input for
``pipwrap repo add``). Same seed, same bytes.

From Python: ``generate(out, projects=1000, files=5000, layout="tree", seed=0)`` returns
the written paths; ``make_wheel`` / ``make_sdist`` write one file.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import random
import re
import sys
import tarfile
import time
import zipfile
from pathlib import Path

FIXED_PROJECT = "foo-bar"
# (version, metadata Name spelling, Requires-Python)
FIXED_RELEASES = (
    ("1.5.0", "FOO-bar", None),
    ("1.6.0", "Foo_Bar", ">=3.8"),
    ("1.7.0", "foo.BAR", ">=3.99"),
)
SDIST_SHARE = 0.05  # with the paired ones, about one file in twelve is an sdist
REQUIRES_PYTHON = (None, None, ">=3.7", ">=3.8", ">=3.9")
SYLLABLES = (
    "ab", "ac", "al", "an", "ar", "ba", "be", "bo", "ca", "ce", "co", "da", "de", "do", "el",
    "en", "er", "fa", "fe", "fi", "ga", "ge", "go", "ha", "he", "io", "ja", "ka", "ki", "la",
    "le", "li", "lo", "ma", "me", "mi", "mo", "na", "ne", "ni", "no", "or", "pa", "pe", "pi",
    "po", "ra", "re", "ri", "ro", "sa", "se", "si", "so", "ta", "te", "ti", "to", "un", "va",
    "ve", "vi", "xo", "za", "zo",
)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_SEPARATORS = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return _SEPARATORS.sub("-", name).lower()


def file_stem(name: str) -> str:
    """The name part of a distribution file name: ``Foo.Bar`` -> ``foo_bar``."""
    return _SEPARATORS.sub("_", name).lower()


def metadata_text(name: str, version: str, requires_python: str | None = None) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
             f"Summary: synthetic package {normalize(name)}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    return "\n".join(lines) + "\n\n"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()},{len(data)}"


def make_wheel(directory: Path, name: str, version: str,
               requires_python: str | None = None) -> Path:
    """Write ``<stem>-<version>-py3-none-any.whl`` in ``directory``; ``name`` is the
    metadata Name, spelled as you like."""
    stem = file_stem(name)
    dist_info = f"{stem}-{version}.dist-info"
    module = f"{stem}.py"
    members = [
        (module, f'__version__ = "{version}"\n'.encode()),
        (f"{dist_info}/METADATA", metadata_text(name, version, requires_python).encode()),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: synthetic_repo\n"
                               b"Root-Is-Purelib: true\nTag: py3-none-any\n\n"),
    ]
    record = "".join(f"{path},{_record_hash(data)}\n" for path, data in members)
    record += f"{dist_info}/RECORD,,\n"
    members.append((f"{dist_info}/RECORD", record.encode()))
    buffer = io.BytesIO()  # built in memory, then one write: far fewer system calls
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for member, data in members:
            info = zipfile.ZipInfo(member, ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    path = directory / f"{stem}-{version}-py3-none-any.whl"
    path.write_bytes(buffer.getvalue())
    return path


def make_sdist(directory: Path, name: str, version: str,
               requires_python: str | None = None) -> Path:
    """Write ``<stem>-<version>.tar.gz`` in ``directory`` (PKG-INFO and a pyproject.toml)."""
    stem = file_stem(name)
    top = f"{stem}-{version}"
    members = [
        (f"{top}/PKG-INFO", metadata_text(name, version, requires_python).encode()),
        (f"{top}/pyproject.toml",
         f'[project]\nname = "{name}"\nversion = "{version}"\n'.encode()),
        (f"{top}/{stem}.py", f'__version__ = "{version}"\n'.encode()),
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member, data in members:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    path = directory / f"{top}.tar.gz"
    path.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=1, mtime=0))
    return path


def messy(normalized: str, rng: random.Random) -> str:
    """A spelling of ``normalized`` with random separators and case, same project."""
    parts = normalized.split("-")
    out = [rng.choice((parts[0], parts[0].upper(), parts[0].capitalize()))]
    for part in parts[1:]:
        out.append(rng.choice("-_."))
        out.append(rng.choice((part, part.upper(), part.capitalize())))
    return "".join(out)


def project_names(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct normalized names (``foo-bar`` first)."""
    names = [FIXED_PROJECT]
    seen = set(names)
    while len(names) < count:
        words = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
                 for _ in range(rng.randint(1, 3))]
        name = normalize("-".join(words))
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def generate(out: Path, projects: int = 1000, files: int = 5000, layout: str = "tree",
             seed: int = 0) -> list[Path]:
    """Write ``files`` distributions over ``projects`` projects in ``out``; return them."""
    if layout not in ("tree", "flat"):
        raise ValueError(f"layout must be 'tree' or 'flat', not {layout!r}")
    if files < len(FIXED_RELEASES):
        raise ValueError(f"files must be at least {len(FIXED_RELEASES)}")
    out = Path(out)
    rng = random.Random(seed)
    others = max(0, min(projects - 1, files - len(FIXED_RELEASES)))
    names = project_names(others + 1, rng)
    # Every other project gets one file; the rest go to projects with skewed weights.
    counts = dict.fromkeys(names[1:], 1)
    spare = files - len(FIXED_RELEASES) - others
    if names[1:] and spare:
        weights = [rng.random() ** 3 for _ in names[1:]]
        for name in rng.choices(names[1:], weights=weights, k=spare):
            counts[name] += 1

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def directory(project: str) -> Path:
        if layout == "flat":
            return out
        where = out / project
        where.mkdir(exist_ok=True)
        return where

    for version, spelling, requires_python in FIXED_RELEASES:
        written.append(make_wheel(directory(FIXED_PROJECT), spelling, version,
                                  requires_python))
    for project, count in counts.items():
        where = directory(project)
        release = 0
        left = count
        while left:
            release += 1
            version = f"{release // 10}.{release % 10}.{rng.randrange(3)}"
            requires_python = rng.choice(REQUIRES_PYTHON)
            maker = make_sdist if rng.random() < SDIST_SHARE else make_wheel
            written.append(maker(where, messy(project, rng), version, requires_python))
            left -= 1
            if left and rng.random() < SDIST_SHARE:  # an sdist beside the release's wheel
                maker = make_wheel if maker is make_sdist else make_sdist
                written.append(maker(where, messy(project, rng), version, requires_python))
                left -= 1
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, metavar="OUT_DIR")
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--layout", choices=("tree", "flat"), default="tree")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    written = generate(args.out, args.projects, args.files, args.layout, args.seed)
    projects = len({normalize(p.name.split("-")[0]) for p in written})
    print(f"{len(written)} files, {projects} projects in {args.out} ({args.layout}) "
          f"in {time.perf_counter() - start:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
