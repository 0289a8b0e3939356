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
    policy.saw_page([listed], "foo")
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


def test_an_upload_url_at_the_servers_root_leaves_reading_to_the_index() -> None:
    """The built-in profile and docs/hosting-team.md: index and uploads on one server."""
    policy = Policy("http://127.0.0.1:8080/simple/", "http://127.0.0.1:8080/")
    page = policy.decide("GET", "http://127.0.0.1:8080/simple/six/")
    assert (page.kind, page.project, page.add_login) == (INDEX_PAGE, "six", True)
    # Its redirect to the fallback is learned, as without an upload URL.
    policy.saw_redirect(page, "http://127.0.0.1:8080/simple/six/", "https://pypi.example/simple/six/")
    assert policy.decide("GET", "https://pypi.example/simple/six/").kind == PAGE
    # The server's own files keep the sha256 their page gave.
    wheel = "http://127.0.0.1:8080/simple/six/six-1.0-py3-none-any.whl"
    policy.saw_page([IndexFile(wheel, "six-1.0-py3-none-any.whl", {"sha256": SHA})], "six")
    assert (policy.decide("GET", wheel).kind, policy.decide("GET", wheel).sha256) == (
        INDEX, frozenset({SHA}))
    beside = "http://127.0.0.1:8080/packages/six-1.0.tar.gz"
    policy.saw_page([IndexFile(beside, "six-1.0.tar.gz", {"sha256": SHA})], "six")
    assert (policy.decide("GET", beside).kind, policy.decide("GET", beside).sha256) == (
        FILE, frozenset({SHA}))
    # The root is no free pass for reading: only the index and its files.
    for url in ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/admin/secret.txt",
                "http://127.0.0.1:8080/legacy/", "http://127.0.0.1:8080/simplex/six/"):
        assert not policy.decide("GET", url).allowed, url
    # An upload is a POST to the upload URL itself, with the profile's login.
    for url in ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"):
        upload = policy.decide("POST", url)
        assert (upload.allowed, upload.kind, upload.add_login) == (True, UPLOAD, True), url
    for method, url in (("POST", "http://127.0.0.1:8080/simple/"),
                        ("POST", "http://127.0.0.1:8080/simple/six/"),
                        ("POST", "http://127.0.0.1:8080/legacy/"),
                        ("PUT", "http://127.0.0.1:8080/"),
                        ("DELETE", "http://127.0.0.1:8080/simple/six/"),
                        ("POST", "http://127.0.0.2:8080/")):
        assert not policy.decide(method, url).allowed, (method, url)


def test_nothing_but_reading_without_an_upload_url() -> None:
    policy = Policy("http://127.0.0.1:8080/simple/")
    assert policy.decide("HEAD", "http://127.0.0.1:8080/simple/six/").kind == INDEX_PAGE
    refused = policy.decide("POST", "http://127.0.0.1:8080/simple/")
    assert not refused.allowed and "upload-url" in refused.reason


def test_an_upload_url_elsewhere_takes_posts_to_itself_only() -> None:
    policy = Policy("https://pkgs.example/simple/", "https://upload.example/legacy/")
    assert policy.decide("POST", "https://upload.example/legacy/").kind == UPLOAD
    for method, url in (("GET", "https://upload.example/legacy/"),
                        ("GET", "https://upload.example/legacy/anything.whl"),
                        ("POST", "https://upload.example/legacy/deeper/"),
                        ("POST", "https://upload.example/")):
        assert not policy.decide(method, url).allowed, (method, url)


def test_a_page_opens_only_files_named_for_its_own_project() -> None:
    """Red-team 3: helper's page (any index's) listing foo-9.9.9...whl must not open it for
    a direct-URL dependency, past the rules that decide foo."""
    from pipwrap.fence.policy import names_project

    policy = Policy("http://127.0.0.1:8080/simple/", composed=True)
    base = "https://up.example/files/"
    own = IndexFile(base + "helper-1.0-py3-none-any.whl", "helper-1.0-py3-none-any.whl",
                    {"sha256": SHA})
    evil = IndexFile(base + "foo-9.9.9-py3-none-any.whl", "foo-9.9.9-py3-none-any.whl",
                     {"sha256": SHA})
    # The JSON filename says helper, the URL (what pip fetches) says foo: both are read.
    masked = IndexFile(base + "foo-9.9.8-py3-none-any.whl", "helper-9.9.8-py3-none-any.whl",
                       {"sha256": SHA})
    policy.saw_page([own, evil, masked], "Helper")
    assert policy.decide("GET", own.url).kind == FILE
    assert not policy.decide("GET", evil.url).allowed
    assert not policy.decide("GET", masked.url).allowed

    def listed(name: str, project: str) -> bool:
        return names_project(IndexFile(base + name, name), project)

    assert listed("Foo_Bar-1.0.tar.gz", "foo-bar")
    assert listed("foo.bar-1.0-py3-none-any.whl", "Foo_Bar")
    assert not listed("foo-bar-1.0.tar.gz", "foo")  # an sdist parses at its last dash
    assert not listed("foo-1.0.tar.gz", "foo-bar")
    # Names packaging cannot parse are read as pip reads a page's links.
    assert listed("foo-1.0.tar.bz2", "foo")
    assert listed("foo-bar-1.0-beta.tar.gz", "foo-bar")
    assert not listed("foo-9.9.9-x.tar.gz", "helper")
    assert not listed("notes.txt", "helper")


def test_an_index_page_is_decided_on_the_name_the_server_reads() -> None:
    """Red-team 3: `/simple/%66oo/` is foo's page to the server (serve, pypiserver decode
    it), so the fence's rules must see foo, not "%66oo"."""
    policy = Policy("http://127.0.0.1:8080/simple/", composed=True)
    for spelled, project in (("%66oo", "foo"), ("%46OO", "foo"), ("fo%6F", "foo"),
                             ("F%6F_o", "fo-o"), ("foo%5Fbar", "foo-bar")):
        page = policy.decide("GET", f"http://127.0.0.1:8080/simple/{spelled}/")
        assert (page.kind, page.project) == (INDEX_PAGE, project), spelled
    assert policy.decide("GET", "http://127.0.0.1:8080/simple/Foo_Bar.baz/").project == \
        "foo-bar-baz"
    for bad in ("%2e%2e", "foo%2Fbar", "%00", "f%20o"):
        refused = policy.decide("GET", f"http://127.0.0.1:8080/simple/{bad}/")
        assert not refused.allowed and "is not a project name" in refused.reason, bad
