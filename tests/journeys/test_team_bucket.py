"""A team with a bucket (issue 24, "your index on object storage"): the maintainer
publishes the team's repository to S3-compatible storage with `pipwrap repo push` (a real
S3 API on loopback, moto_server; credentials in the environment as the AWS tools take
them), and a teammate, with nothing but the bucket's HTTP address, adds a profile whose
first source is the bucket and whose fallback is the (stand-in) public index, then
installs through `wrap`: the team's Foo 1.0 from the bucket, never the fallback's evil
9.9.9; the dependency only the public index has from the fallback; a reserved name never
from the fallback. Nothing runs on the team's side but the object store.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.journeys.conftest import Stock
from tests.support import journey, s3
from tests.support.sandbox import installed
from tests.support.servers import PyPIServer
from tests.support.wheels import make_wheel


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3.S3Server]:
    with s3.moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


def maintainer(shell: str, endpoint: str, bucket: str) -> str:
    status = journey.status_of(shell)
    return f"""
echo '== the maintainer publishes the repository to the bucket'
pipwrap repo push --repo ~/repo s3://{bucket}/simple --endpoint-url {endpoint}
echo "status={status}"
echo '== a second push has nothing to do'
pipwrap repo push --repo ~/repo s3://{bucket}/simple --endpoint-url {endpoint} --check
echo "status={status}"
"""


def teammate(shell: str, index: str, pypi: str) -> str:
    status = journey.status_of(shell)
    return f"""
echo '== the teammate adds the bucket, the public index behind it'
pipwrap add team {index} --fallback {pypi} --reserved 'acme-*'
echo "status={status}"
echo '== wrap pip install'
PIPWRAP_PROFILE=team wrap pip install --target ~/with-pip hello-app
echo "status={status}"
echo '== wrap uv pip install'
PIPWRAP_PROFILE=team wrap uv pip install --target ~/with-uv hello-app
echo "status={status}"
echo '== a reserved name is never taken from the fallback'
PIPWRAP_PROFILE=team wrap pip install --target ~/squatted acme-internal
echo "status={status}"
"""


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_the_maintainer_pushes_and_a_teammate_installs_through_wrap(
    shell: str, stock: Stock, pypi: PyPIServer, store: s3.S3Server, env: dict[str, str],
    home: Path, tmp_path: Path
) -> None:
    make_wheel(stock.upstream_dir, "acme-internal", "1.0", "evil")  # squatting the team's
    bucket = store.bucket(f"team-{shell}")
    maintainer_home = tmp_path / "maintainer"
    maintainer_home.mkdir()
    shutil.copytree(stock.repo, maintainer_home / "repo", symlinks=True)
    pushed = journey.run(shell, maintainer(shell, store.endpoint, bucket),
                         s3.s3_env({**env, "HOME": str(maintainer_home)}), timeout=90)
    out = pushed.output
    assert s3.SECRET_KEY not in out and s3.ACCESS_KEY not in out
    published = pushed.after("== the maintainer publishes the repository to the bucket")
    assert published.rstrip().endswith("status=0"), out
    index = f"{store.endpoint}/{bucket}/simple/"
    assert f"index at {index}" in published, out
    assert pushed.after("== a second push has nothing to do").rstrip().endswith(
        "status=0"), out

    seen = journey.run(shell, teammate(shell, index, pypi.url), env, timeout=150)
    out = seen.output
    for step in ("== the teammate adds the bucket, the public index behind it",
                 "== wrap pip install", "== wrap uv pip install"):
        assert seen.after(step).rstrip().endswith("status=0"), f"{step}:\n{out}"
    for target in ("with-pip", "with-uv"):
        assert installed(home / target) == ("local", "1.0"), out  # never the evil 9.9.9
        assert installed(home / target, "dep_lib") == ("upstream", "1.0"), out
        assert installed(home / target, "hello_app") == ("local", "1.0"), out
    squatted = seen.after("== a reserved name is never taken from the fallback")
    assert not squatted.rstrip().endswith("status=0"), out
    assert "'acme-internal' is reserved (pattern 'acme-*')" in squatted, out
    assert installed(home / "squatted", "acme_internal") is None
