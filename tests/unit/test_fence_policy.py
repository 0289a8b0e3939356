"""The fence's policy, decision by decision (pure: no network)."""

from __future__ import annotations

from pipwrap.fence.policy import FILE, INDEX, INDEX_PAGE, METADATA, PAGE, UPLOAD, Policy
from pipwrap.indexpage import IndexFile

IDX = "https://repo.example/artifactory/api/pypi/mine/simple/"
SHA = "a" * 64


def test_under_the_index_and_its_pages() -> None:
    policy = Policy(IDX)
    assert policy.decide("GET", IDX).kind == INDEX
    assert policy.decide("GET", IDX.rstrip("/")).kind == INDEX
    page = policy.decide("GET", IDX + "Foo_Bar/")
    assert (page.allowed, page.kind, page.project, page.add_login) == (True, INDEX_PAGE, "foo-bar", True)
    # Scheme, host, port and path prefix all count; the default port is the same port.
    assert policy.decide("GET", "https://repo.example:443/artifactory/api/pypi/mine/simple/x/").allowed
    for url in ("http://repo.example/artifactory/api/pypi/mine/simple/x/",
                "https://repo.example:8443/artifactory/api/pypi/mine/simple/x/",
                "https://evil.example/artifactory/api/pypi/mine/simple/x/",
                "https://repo.example/artifactory/api/pypi/other/simple/x/",
                "https://repo.example/artifactory/api/pypi/mine/simplex/",
                "ftp://repo.example/x"):
        assert not policy.decide("GET", url).allowed, url


def test_the_repository_beside_the_index_serves_files_only() -> None:
    policy = Policy(IDX)
    wheel = "https://repo.example/artifactory/api/pypi/mine/files/foo-1.0-py3-none-any.whl"
    assert policy.decide("GET", wheel).kind == FILE
    assert policy.decide("GET", wheel + ".metadata").allowed
    assert not policy.decide("GET", "https://repo.example/artifactory/api/pypi/mine/other/").allowed
    assert not policy.decide(
        "GET", "https://repo.example/artifactory/api/pypi/other/files/foo-9.9.9.tar.gz").allowed
    assert not policy.decide("POST", wheel).allowed


def test_a_fallback_redirect_opens_that_projects_page_and_its_files_only() -> None:
    policy = Policy("http://127.0.0.1:8080/simple/")
    fallback = "https://pypi.example/simple/foo/"
    assert not policy.decide("GET", fallback).allowed
    index_page = policy.decide("GET", "http://127.0.0.1:8080/simple/foo/")
    policy.saw_redirect(index_page, "http://127.0.0.1:8080/simple/foo/", fallback)
    decision = policy.decide("GET", fallback)
    assert (decision.kind, decision.project, decision.add_login) == (PAGE, "foo", False)
    assert not policy.decide("GET", "https://pypi.example/simple/bar/").allowed
    assert not policy.decide("GET", "https://files.example/f/foo-1.0.tar.gz").allowed
    # The page's own redirect (a normalizing 301) stays that project's.
    policy.saw_redirect(decision, fallback, "/simple/foo-renamed/")
    assert policy.decide("GET", "https://pypi.example/simple/foo-renamed/").project == "foo"
    listed = IndexFile("https://files.example/f/foo-1.0.tar.gz", "foo-1.0.tar.gz",
                       {"sha256": SHA}, core_metadata={"sha256": "b" * 64})
    policy.saw_page([listed])
    file = policy.decide("GET", listed.url)
    assert (file.kind, file.sha256) == (FILE, frozenset({SHA}))
    meta = policy.decide("GET", listed.url + ".metadata")
    assert (meta.kind, meta.sha256) == (METADATA, frozenset({"b" * 64}))
    assert not policy.decide("GET", "https://files.example/f/foo-9.9.9.tar.gz").allowed


def test_upload_url_and_logins() -> None:
    policy = Policy("http://127.0.0.1:8080/simple/", "https://upload.example/legacy/")
    up = policy.decide("POST", "https://upload.example/legacy/")
    assert (up.kind, up.add_login) == (UPLOAD, True)
    assert policy.decide("POST", "https://upload.example/legacy").allowed
    assert not policy.decide("POST", "https://upload.example/other/").allowed
    assert not policy.decide("POST", "https://elsewhere.example/legacy/").allowed


def test_the_project_a_file_url_names() -> None:
    from pipwrap.fence.policy import project_of_file

    assert project_of_file("https://f.example/p/Foo_Bar-1.0-py3-none-any.whl") == "foo-bar"
    assert project_of_file("https://f.example/p/foo.bar-2.0.tar.gz.metadata") == "foo-bar"
    assert project_of_file("https://f.example/p/foo-1.0-py3-none-any.whl.metadata") == "foo"
    assert project_of_file("https://f.example/simple/foo/") is None
    assert project_of_file("https://f.example/p/notes.txt") is None
    policy = Policy("https://idx.example/simple/")
    assert policy.project_page("Foo_Bar") == "https://idx.example/simple/foo-bar/"
