"""Read a simple-index project page (PEP 503 HTML or PEP 691 JSON) into file records.

Shared by the fence (which files a page it passed lets a client fetch, and their hashes)
and the hosting half's caching fallback. Pure: no I/O, stdlib only (``html.parser``,
``json``), so it is cheap to import on any path.

``parse(body, content_type, page_url)`` returns one :class:`IndexFile` per file the page
lists, each with its absolute URL (resolved against the page URL, or an HTML ``<base
href>``), its filename, its hashes (``#sha256=...`` fragment or JSON ``hashes``),
``requires-python``, its yank (``None`` if not yanked, else the reason, possibly ``""``)
and its PEP 658/714 core-metadata (``None``: not announced; ``{}``: announced without a
hash; else the hashes). A body that is neither form raises :class:`PageError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")

# Our own local-first servers (``serve --cache``, ``repo nginx-conf`` with a fallback) send
# this header with a project page they did not hold but took from their upstream (or with
# the redirect to it): a caching server answers 200 for every name, and only this tells
# the fence that a reserved name's page is not the team's own (fence/sources.py).
ORIGIN_HEADER = "X-Pipwrap-Origin"
FROM_UPSTREAM = "upstream"
UPSTREAM_MARK = ((ORIGIN_HEADER, FROM_UPSTREAM),)

__all__ = ["FROM_UPSTREAM", "HTML_TYPES", "JSON_TYPE", "ORIGIN_HEADER", "UPSTREAM_MARK",
           "IndexFile", "PageError", "is_json", "parse", "parse_html", "parse_json"]


class PageError(ValueError):
    """The body is not a simple-index project page this module can read."""


@dataclass(frozen=True)
class IndexFile:
    url: str                      # absolute, without the fragment
    filename: str
    hashes: dict[str, str] = field(default_factory=dict)   # algorithm (lower case) -> hex
    requires_python: str | None = None
    yanked: str | None = None     # None: not yanked; else the reason ("" when none given)
    core_metadata: dict[str, str] | None = None  # None: no .metadata; {}: one, no hash
    # PEP 700, JSON pages only: when the file was uploaded (ISO 8601, as the page gave it)
    # and its size. The fence's cooldown reads the upload time.
    upload_time: str | None = None
    size: int | None = None

    @property
    def metadata_url(self) -> str | None:
        """Where PEP 658 puts the file's core metadata, if the page announces it."""
        return None if self.core_metadata is None else self.url + ".metadata"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    return media_type(content_type) == JSON_TYPE


def parse(body: bytes | str, content_type: str | None, page_url: str) -> list[IndexFile]:
    """The files a project page lists; the form is chosen by ``content_type``.

    A missing or unknown content type is read as HTML (``file://`` pages and plain static
    servers send ``text/html`` or nothing), except a body that starts with ``{``.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    kind = media_type(content_type)
    if kind == JSON_TYPE or (kind not in HTML_TYPES and text.lstrip().startswith("{")):
        return parse_json(text, page_url)
    return parse_html(text, page_url)


def _hashes_from_fragment(fragment: str) -> dict[str, str]:
    name, sep, value = fragment.partition("=")
    if not sep or not name or not value:
        return {}
    return {name.strip().lower(): value.strip().lower()}


def _metadata_attribute(value: str | None) -> dict[str, str] | None:
    """PEP 658/714: absent -> None; "true" (or any non-hash value) -> {}; "alg=hex" -> hash."""
    if value is None:
        return None
    value = value.strip()
    if value.lower() == "false":
        return None
    return _hashes_from_fragment(value)


def _filename(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


class _Links(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = page_url
        self.base_seen = False
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and not self.base_seen:
            href = dict(attrs).get("href")
            if href:
                # Only the first <base href> counts (HTML: "the first base element with an
                # href attribute"), and it is itself resolved against the document's URL.
                self.base = urljoin(self.base, href.strip())
                self.base_seen = True
        elif tag == "a":
            self.anchors.append(dict(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def parse_html(text: str, page_url: str) -> list[IndexFile]:
    parser = _Links(page_url)
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:  # html.parser raises little, but never let a page crash a caller
        raise PageError(f"unreadable HTML page at {page_url}: {exc}") from exc
    files = []
    for attrs in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        absolute, fragment = urldefrag(urljoin(parser.base, href.strip()))
        name = _filename(absolute)
        if not name:
            continue
        metadata = attrs.get("data-core-metadata")
        if metadata is None:
            metadata = attrs.get("data-dist-info-metadata")
        files.append(IndexFile(
            url=absolute,
            filename=name,
            hashes=_hashes_from_fragment(fragment),
            requires_python=attrs.get("data-requires-python") or None,
            # A valueless data-yanked arrives as None: yanked without a reason.
            yanked=(attrs["data-yanked"] or "") if "data-yanked" in attrs else None,
            core_metadata=_metadata_attribute(metadata),
        ))
    return files


def _json_metadata(value: object) -> dict[str, str] | None:
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, dict):
        return {str(k).lower(): str(v).lower() for k, v in value.items()
                if isinstance(v, str)}
    return None


def parse_json(text: str, page_url: str) -> list[IndexFile]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PageError(f"unreadable JSON page at {page_url}: {exc}") from exc
    entries = data.get("files") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise PageError(f"JSON page at {page_url} has no 'files' list")
    files = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        url = entry.get("url")
        if not isinstance(url, str) or not url:
            continue
        absolute, fragment = urldefrag(urljoin(page_url, url.strip()))
        name = entry.get("filename")
        if not isinstance(name, str) or not name:
            name = _filename(absolute)
        raw_hashes = entry.get("hashes")
        hashes = ({str(k).lower(): v.lower() for k, v in raw_hashes.items()
                   if isinstance(v, str)} if isinstance(raw_hashes, dict) else {})
        if not hashes:
            hashes = _hashes_from_fragment(fragment)
        yanked_value = entry.get("yanked", False)
        if yanked_value is True:
            yanked: str | None = ""
        elif isinstance(yanked_value, str) and yanked_value:
            yanked = yanked_value
        else:
            yanked = None
        metadata = entry.get("core-metadata")
        if metadata is None:
            metadata = entry.get("dist-info-metadata")
        requires = entry.get("requires-python")
        uploaded = entry.get("upload-time")
        size = entry.get("size")
        files.append(IndexFile(
            url=absolute,
            filename=name,
            hashes=hashes,
            requires_python=requires if isinstance(requires, str) and requires else None,
            yanked=yanked,
            core_metadata=_json_metadata(metadata),
            upload_time=uploaded if isinstance(uploaded, str) and uploaded else None,
            size=size if type(size) is int else None,
        ))
    return files
