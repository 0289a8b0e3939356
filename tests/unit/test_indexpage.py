"""pipwrap.indexpage: project pages (PEP 503 HTML, PEP 691 JSON) read into file records."""

from __future__ import annotations

import json

import pytest

from pipwrap import indexpage
from pipwrap.indexpage import IndexFile, PageError
from pipwrap.repo import pages

PAGE = "https://idx.example/simple/foo/"
SHA = "a" * 64
META = "b" * 64


def test_html_page_with_every_attribute() -> None:
    body = f"""<!DOCTYPE html><html><body>
    <a href="../../files/foo-1.0-py3-none-any.whl#sha256={SHA.upper()}"
       data-requires-python="&gt;=3.8" data-core-metadata="sha256={META}">foo-1.0</a><br/>
    <a href="https://files.example/p/foo-0.9.tar.gz#md5=abc" data-yanked>foo-0.9</a>
    <a href="foo-0.8.tar.gz" data-yanked="broken" data-dist-info-metadata="true">x</a>
    <a href="foo%2B1.tar.gz" data-core-metadata="false">y</a>
    <a>no href</a>
    </body></html>"""
    files = indexpage.parse(body.encode(), "text/html; charset=utf-8", PAGE)
    assert files == [
        IndexFile("https://idx.example/files/foo-1.0-py3-none-any.whl", "foo-1.0-py3-none-any.whl",
                  {"sha256": SHA}, ">=3.8", None, {"sha256": META}),
        IndexFile("https://files.example/p/foo-0.9.tar.gz", "foo-0.9.tar.gz", {"md5": "abc"},
                  None, "", None),
        IndexFile("https://idx.example/simple/foo/foo-0.8.tar.gz", "foo-0.8.tar.gz", {}, None,
                  "broken", {}),
        IndexFile("https://idx.example/simple/foo/foo%2B1.tar.gz", "foo+1.tar.gz", {}, None,
                  None, None),
    ]
    assert files[0].metadata_url == files[0].url + ".metadata"
    assert files[1].metadata_url is None


def test_html_base_href_counts_once_and_is_resolved_against_the_page() -> None:
    body = ('<html><head><base href="/mirror/"><base href="https://other/"></head>'
            '<body><a href="foo-1.0.tar.gz">f</a></body></html>')
    [file] = indexpage.parse(body, "application/vnd.pypi.simple.v1+html", PAGE)
    assert file.url == "https://idx.example/mirror/foo-1.0.tar.gz"


def test_json_page() -> None:
    data = {
        "meta": {"api-version": "1.1"}, "name": "foo",
        "files": [
            {"filename": "foo-1.0-py3-none-any.whl", "url": "../../f/foo-1.0-py3-none-any.whl",
             "hashes": {"SHA256": SHA.upper()}, "requires-python": ">=3.8",
             "core-metadata": {"sha256": META}, "yanked": False},
            {"filename": "foo-0.9.tar.gz", "url": "https://cdn.example/foo-0.9.tar.gz#sha256=" + SHA,
             "hashes": {}, "yanked": True, "dist-info-metadata": True},
            {"filename": "foo-0.8.tar.gz", "url": "foo-0.8.tar.gz", "hashes": {},
             "yanked": "bad build", "core-metadata": False},
            {"filename": "nourl"}, "junk",
        ],
    }
    files = indexpage.parse(json.dumps(data).encode(), indexpage.JSON_TYPE, PAGE)
    assert files == [
        IndexFile("https://idx.example/f/foo-1.0-py3-none-any.whl", "foo-1.0-py3-none-any.whl",
                  {"sha256": SHA}, ">=3.8", None, {"sha256": META}),
        IndexFile("https://cdn.example/foo-0.9.tar.gz", "foo-0.9.tar.gz", {"sha256": SHA}, None,
                  "", {}),
        IndexFile("https://idx.example/simple/foo/foo-0.8.tar.gz", "foo-0.8.tar.gz", {}, None,
                  "bad build", None),
    ]


def test_without_content_type_a_json_body_is_read_as_json() -> None:
    body = json.dumps({"files": [{"filename": "a-1.tar.gz", "url": "a-1.tar.gz", "hashes": {}}]})
    assert [f.filename for f in indexpage.parse(body, None, PAGE)] == ["a-1.tar.gz"]
    assert indexpage.parse("<a href='b-1.tar.gz'>b</a>", "", PAGE)[0].filename == "b-1.tar.gz"


@pytest.mark.parametrize("body", ["{not json", '{"meta": {}}', "[]"])
def test_unreadable_json_raises(body: str) -> None:
    with pytest.raises(PageError):
        indexpage.parse(body, indexpage.JSON_TYPE, PAGE)


def test_reads_the_pages_pipwrap_writes() -> None:
    records = [
        pages.FileRecord("foo-1.0-py3-none-any.whl", "1.0", 10, SHA, ">=3.9", META, "2026-01-01T00:00:00Z"),
        pages.FileRecord("foo-0.9.tar.gz", "0.9", 10, "c" * 64, None, None, "2026-01-01T00:00:00Z", "old"),
    ]
    html = indexpage.parse(pages.project_html("foo", records), "text/html", PAGE)
    as_json = indexpage.parse(pages.project_json("foo", ["0.9", "1.0"], records),
                              indexpage.JSON_TYPE, PAGE)
    for files in (html, as_json):
        assert [(f.url, f.hashes, f.requires_python, f.yanked, f.core_metadata) for f in files] == [
            (PAGE + "foo-1.0-py3-none-any.whl", {"sha256": SHA}, ">=3.9", None, {"sha256": META}),
            (PAGE + "foo-0.9.tar.gz", {"sha256": "c" * 64}, None, "old", None),
        ]
