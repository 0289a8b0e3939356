"""The simple index pages, HTML (PEP 503) and JSON (PEP 691), from file records.

Each file carries what clients need to choose without downloading it: its sha256
(``#sha256=`` and ``hashes``), ``requires-python`` (without it ``uv pip install --no-deps``
takes a wheel the interpreter cannot run), the PEP 658/714 metadata hash under both
attribute names in HTML (older pips read only ``data-dist-info-metadata``; JSON carries
only ``core-metadata``, see :func:`file_entry`), PEP 592 yanks, and
PEP 700 ``versions``, ``size`` and ``upload-time`` (``uv --exclude-newer`` needs the last,
and only JSON carries it). URLs are relative to the page, so the same tree is an index at
``file://DIR/``, behind any static server, and under ``pipwrap serve``'s ``/simple/``.
"""

from __future__ import annotations

import json
from html import escape
from urllib.parse import quote

# Shared with the fence, which renders the pages it composes from several sources.
from pipwrap.pagerender import file_entry, file_link

__all__ = ["file_entry", "file_link", "project_html", "project_json", "root_html", "root_json"]

API_VERSION = "1.1"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"


class FileRecord:
    __slots__ = ("filename", "metadata_sha256", "requires_python", "sha256", "size",
                 "upload_time", "version", "yanked")

    def __init__(self, filename: str, version: str, size: int, sha256: str,
                 requires_python: str | None, metadata_sha256: str | None, upload_time: str,
                 yanked: str | None = None) -> None:
        self.filename = filename
        self.version = version
        self.size = size
        self.sha256 = sha256
        self.requires_python = requires_python
        self.metadata_sha256 = metadata_sha256
        self.upload_time = upload_time
        self.yanked = yanked  # None: not yanked; "" yanked without a reason


def _head(title: str) -> str:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n"
    )


def root_html(projects: list[str]) -> bytes:
    links = "".join(f'<a href="{quote(p)}/">{escape(p)}</a><br>\n' for p in projects)
    return (_head("Simple index") + links + "</body>\n</html>\n").encode()


def root_json(projects: list[str]) -> bytes:
    data = {"meta": {"api-version": API_VERSION}, "projects": [{"name": p} for p in projects]}
    return _dump(data)


def _file_link(record: FileRecord) -> str:
    return file_link(quote(record.filename), record.filename, record.sha256,
                     record.requires_python, record.metadata_sha256, record.yanked)


def project_html(project: str, records: list[FileRecord]) -> bytes:
    title = f"Links for {project}"
    body = f"<h1>{escape(title)}</h1>\n" + "".join(_file_link(r) for r in records)
    return (_head(title) + body + "</body>\n</html>\n").encode()


def project_json(project: str, versions: list[str], records: list[FileRecord]) -> bytes:
    files = []
    for record in records:
        entry = file_entry(quote(record.filename), record.filename, record.sha256,
                           record.requires_python, record.metadata_sha256, record.yanked)
        entry["size"] = record.size
        entry["upload-time"] = record.upload_time
        files.append(entry)
    data = {"meta": {"api-version": API_VERSION}, "name": project, "versions": versions,
            "files": files}
    return _dump(data)


def _dump(data: object) -> bytes:
    return (json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
