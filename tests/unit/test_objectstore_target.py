"""`repo push`'s target, s3://BUCKET/PREFIX: what is accepted, and the keys it makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipwrap.errors import PipwrapError
from pipwrap.repo.objectstore_s3 import parse_target


@pytest.mark.parametrize(("url", "bucket", "prefix", "key"), [
    ("s3://team-pkgs/simple", "team-pkgs", "simple", "simple/foo/"),
    ("s3://team-pkgs/simple/", "team-pkgs", "simple", "simple/foo/"),
    ("s3://team.pkgs/a/b", "team.pkgs", "a/b", "a/b/foo/"),
    ("s3://team-pkgs", "team-pkgs", "", "foo/"),
    ("s3://team-pkgs/", "team-pkgs", "", "foo/"),
])
def test_a_target_names_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str,
                                              key: str) -> None:
    target = parse_target(url)
    assert (target.bucket, target.prefix, target.key("foo/")) == (bucket, prefix, key)


@pytest.mark.parametrize(("url", "says"), [
    ("https://team-pkgs.s3.amazonaws.com/simple", "expected s3://BUCKET/PREFIX"),
    ("team-pkgs/simple", "expected s3://BUCKET/PREFIX"),
    ("s3://Team_Pkgs/simple", "not a bucket name"),
    ("s3://ab/simple", "not a bucket name"),
    ("s3:///simple", "not a bucket name"),
    ("s3://team..pkgs/simple", "not a bucket name"),
    ("s3://team-pkgs/a//b", "empty, '.' or '..' part"),
    ("s3://team-pkgs/a/../b", "empty, '.' or '..' part"),
])
def test_a_bad_target_is_refused_naming_it(url: str, says: str) -> None:
    with pytest.raises(PipwrapError) as raised:
        parse_target(url)
    assert says in str(raised.value) and repr(url) in str(raised.value)


@pytest.mark.parametrize(("url", "endpoint", "printed"), [
    ("s3://team-pkgs/simple", None, "https://team-pkgs.s3.eu-west-1.amazonaws.com/simple/"),
    # A dotted name would not match the wildcard certificate of the form above.
    ("s3://pkgs.example.com/simple", None,
     "https://s3.eu-west-1.amazonaws.com/pkgs.example.com/simple/"),
    ("s3://team-pkgs/simple", "http://127.0.0.1:9000/", "http://127.0.0.1:9000/team-pkgs/simple/"),
    ("s3://team-pkgs", "https://acct.r2.cloudflarestorage.com",
     "https://acct.r2.cloudflarestorage.com/team-pkgs/"),
])
def test_the_printed_index_url_is_where_the_bucket_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, endpoint: str | None,
    printed: str
) -> None:
    pytest.importorskip("boto3")
    from pipwrap.repo.objectstore_s3 import S3Remote

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", f"{tmp_path}/none")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{tmp_path}/none")
    remote = S3Remote(parse_target(url), endpoint, "eu-west-1")  # no request is made
    assert remote.public_url() == printed
