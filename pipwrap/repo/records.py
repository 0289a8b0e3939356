"""What the index records of one distribution file (its manifest entry) and how an
upload time survives a restore that lost the files' times."""

from __future__ import annotations

import hashlib
import json
import os
import time

from pipwrap.repo.distfile import DistFile, read_metadata
from pipwrap.repo.tree import write_if_changed

# Manifest entry: [size, mtime_ns, sha256, version, requires_python, metadata_sha256, uploaded]
Entry = list[object]


def upload_time(mtime: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime))


def examine(path: str, dist: DistFile, mtime: float, metadata_path: str | None = None,
            scratch: str = "") -> tuple[Entry, bool]:
    """Hash and read one distribution: its manifest entry, and whether metadata was written.

    A wheel's metadata is written to ``metadata_path`` here, in the worker that read it:
    creating thousands of small files is most of a cold run's cost, and it parallelizes.
    """
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    metadata = read_metadata(path, dist)
    metadata_sha = None
    wrote = False
    if dist.is_wheel:
        metadata_sha = hashlib.sha256(metadata.raw).hexdigest()
        if metadata_path is not None:
            wrote = write_if_changed(metadata_path, metadata.raw, scratch)
    entry: Entry = [size, 0, digest.hexdigest(), dist.version, metadata.requires_python,
                    metadata_sha, upload_time(mtime)]
    return entry, wrote


def published_times(directory: str) -> dict[str, tuple[str, str]]:
    """filename -> (sha256, upload-time) as the project's index.json gives them."""
    try:
        with open(os.path.join(directory, "index.json"), "rb") as handle:
            files = json.load(handle)["files"]
        return {str(f["filename"]): (str(f["hashes"]["sha256"]), str(f["upload-time"]))
                for f in files if "upload-time" in f}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def keep_upload_time(entry: Entry, previous: object, recorded: dict[str, tuple[str, str]],
                      name: str) -> None:
    """A file read again whose bytes are those already indexed keeps its upload time: its
    mtime moved (a restore, a copy without -p), not its publication."""
    if (isinstance(previous, list) and len(previous) == 7 and previous[0] == entry[0]
            and previous[2] == entry[2]):
        entry[6] = previous[6]
        return
    known = recorded.get(name)
    if known is not None and known[0] == entry[2]:
        entry[6] = known[1]
