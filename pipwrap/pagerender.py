"""One file's entry in a simple-index project page, HTML (PEP 503) or JSON (PEP 691), and
a whole project page from :class:`pipwrap.indexpage.IndexFile` records.

Shared by the hosting half (``repo/pages.py``, ``repo/mirror.py``) and the fence, which
serves the pages it composes from a profile's sources (``fence/sources.py``). Pure.
"""

from __future__ import annotations

import json
from html import escape
from urllib.parse import quote

from pipwrap.indexpage import JSON_TYPE, IndexFile

HTML_TYPE = "application/vnd.pypi.simple.v1+html"


def file_link(href: str, filename: str, sha256: str | None, requires_python: str | None,
              metadata_sha256: str | None, yanked: str | None) -> str:
    """One file's ``<a>`` (PEP 503, 592, 658/714); ``href`` is already a URL path."""
    attributes = [f'href="{href}#sha256={sha256}"' if sha256 else f'href="{href}"']
    if requires_python:
        attributes.append(f'data-requires-python="{escape(requires_python)}"')
    if metadata_sha256:
        value = f"sha256={metadata_sha256}"
        attributes.append(f'data-dist-info-metadata="{value}"')
        attributes.append(f'data-core-metadata="{value}"')
    if yanked is not None:
        attributes.append(f'data-yanked="{escape(yanked)}"')
    return f"<a {' '.join(attributes)}>{escape(filename)}</a><br>\n"


def file_entry(href: str, filename: str, sha256: str | None, requires_python: str | None,
               metadata_sha256: str | None, yanked: str | None) -> dict[str, object]:
    """One file of a PEP 691 page, without the PEP 700 fields (the caller adds them)."""
    entry: dict[str, object] = {"filename": filename, "url": href,
                                "hashes": {"sha256": sha256} if sha256 else {}}
    if requires_python:
        entry["requires-python"] = requires_python
    if metadata_sha256:
        # Only PEP 714's name in JSON: pip 22.3-23.0 (Debian 12's python3 -m venv gives
        # 23.0.1) crash on a dict under the old "dist-info-metadata" key, which is why
        # PEP 714 renamed it. HTML keeps both names: there the value is a string.
        entry["core-metadata"] = {"sha256": metadata_sha256}
    entry["yanked"] = (yanked or True) if yanked is not None else False
    return entry


def project_page(project: str, files: list[IndexFile], versions: list[str], *,
                 as_json: bool) -> tuple[bytes, str]:
    """(body, content type) of ``project``'s page listing ``files`` at their absolute URLs."""
    if as_json:
        entries = []
        for record in files:
            entry = file_entry(record.url, record.filename, record.hashes.get("sha256"),
                               record.requires_python, _metadata_sha256(record), record.yanked)
            if record.size is not None:
                entry["size"] = record.size
            if record.upload_time is not None:
                entry["upload-time"] = record.upload_time
            entries.append(entry)
        # PEP 700 (1.1) makes each file's size mandatory: a page whose source gave none
        # (an HTML page) is said to be 1.0, with what is known of the 1.1 fields kept.
        version = "1.1" if all(record.size is not None for record in files) else "1.0"
        data = {"meta": {"api-version": version}, "name": project, "versions": versions,
                "files": entries}
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"
        return body.encode(), JSON_TYPE
    title = escape(f"Links for {project}")
    links = "".join(
        file_link(escape(quote(record.url, safe=":/?&=%~@!$'()*+,;")), record.filename,
                  record.hashes.get("sha256"), record.requires_python,
                  _metadata_sha256(record), record.yanked)
        for record in files)
    body = ("<!DOCTYPE html>\n<html>\n<head>\n"
            '<meta name="pypi:repository-version" content="1.1">\n'
            f"<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n{links}"
            "</body>\n</html>\n")
    return body.encode(), HTML_TYPE


def _metadata_sha256(record: IndexFile) -> str | None:
    return None if record.core_metadata is None else record.core_metadata.get("sha256")
