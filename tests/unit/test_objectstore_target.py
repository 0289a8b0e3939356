"""`repo push`'s target, s3://BUCKET/PREFIX: what is accepted, and the keys it makes."""

from __future__ import annotations

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
