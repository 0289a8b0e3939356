"""The fence's policy for a file:// index (issue 21 item 3): nothing of the network is the
index's, only the upload URL passes."""

from __future__ import annotations

import pytest

from pipwrap.fence.policy import UPLOAD, Policy

UPLOAD_URL = "http://127.0.0.1:8080/"


def test_a_file_index_lets_only_the_upload_url_through() -> None:
    policy = Policy("file:///srv/repo/simple/", UPLOAD_URL)
    assert policy.decide("POST", UPLOAD_URL).kind == UPLOAD
    # An upload is a POST to the upload URL itself; reading under it is no upload.
    for url in (UPLOAD_URL + "simple/foo/", "http://127.0.0.1:8081/simple/foo/", "https://pypi.org/simple/foo/",
                "file:///srv/repo/simple/foo/", "http://localhost/srv/repo/simple/"):
        assert not policy.decide("GET", url).allowed, url
    # A lock file's file URL: the fence finds no page to learn it from.
    assert not Policy("file:///srv/repo/simple/").decide(
        "GET", "https://files.example/foo-1.0-py3-none-any.whl").allowed


def test_other_schemes_are_still_refused() -> None:
    with pytest.raises(ValueError, match="http://, https:// or file://"):
        Policy("ftp://repo.example/simple/")
