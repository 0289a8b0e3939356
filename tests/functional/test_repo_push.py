"""`pipwrap repo push s3://...`: the static tree on a real S3 API (moto_server on loopback),
read back anonymously over HTTP by pip and uv as an index."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import s3, shells
from tests.support.sandbox import Sandbox, installed, uv_dir
from tests.support.wheels import make_wheel

PY = sys.executable


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3.S3Server]:
    with s3.moto_server(tmp_path_factory.mktemp("moto")) as running:
        yield running


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return s3.s3_env(shells.isolated_env(home, [Path(PY).parent, uv_dir()]))


def pipwrap(env: dict[str, str], *args: str, timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "pipwrap", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def add(env: dict[str, str], repo: Path, *wheels: Path) -> None:
    done = pipwrap(env, "repo", "add", "--repo", str(repo), *map(str, wheels))
    assert done.returncode == 0, done.stderr


def published(env: dict[str, str], server: s3.S3Server, tmp_path: Path, bucket: str,
              *wheels: tuple[str, str], options: tuple[str, ...] = ()) -> tuple[str, Path]:
    """A new bucket, and a repository of ``(name, version)`` wheels pushed to it under
    ``simple/``: (bucket, repository)."""
    server.bucket(bucket)
    repo = tmp_path / "repo"
    add(env, repo, *(make_wheel(tmp_path / "wheels", name, version, "local")
                     for name, version in wheels))
    done = push(env, server, repo, f"s3://{bucket}/simple", *options)
    assert done.returncode == 0, done.stderr
    return bucket, repo


def push(env: dict[str, str], server: s3.S3Server, repo: Path, target: str, *extra: str
         ) -> subprocess.CompletedProcess[str]:
    return pipwrap(env, "repo", "push", "--repo", str(repo), target, "--endpoint-url",
                   server.endpoint, *extra)


def pip_install(env: dict[str, str], target: Path, url: str, name: str
                ) -> subprocess.CompletedProcess[str]:
    """`pip install NAME` from ``url`` alone into ``target``."""
    return subprocess.run(
        [PY, "-m", "pip", "install", "--no-cache-dir", "--target", str(target),
         "--index-url", url, name],
        env=env, capture_output=True, text=True, timeout=180, check=False)


def uv_install(env: dict[str, str], where: Path, url: str, name: str
               ) -> subprocess.CompletedProcess[str]:
    """`uv pip install NAME` from ``url`` alone into a new venv under ``where``."""
    venv = where / "uv-venv"
    subprocess.run(["uv", "venv", "-q", str(venv)], env=env, check=True, timeout=120)
    return subprocess.run(
        ["uv", "pip", "install", "--no-cache", "--python", str(venv / "bin/python"),
         "--index-url", url, name],
        env=env, capture_output=True, text=True, timeout=180, check=False)


def actions(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines()
            if line.startswith(("uploaded: ", "deleted: "))]


def assert_clean(done: subprocess.CompletedProcess[str]) -> None:
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert s3.SECRET_KEY not in output and s3.ACCESS_KEY not in output


def test_push_serves_pip_and_uv_from_the_bucket_with_cdn_headers(
    server: s3.S3Server, env: dict[str, str], tmp_path: Path
) -> None:
    bucket = server.bucket("team-index")
    wheels = tmp_path / "wheels"
    foo = make_wheel(wheels, "Foo", "1.0", "local")
    app = make_wheel(wheels, "hello-app", "1.0", "local", requires_dist=("foo",))
    repo = tmp_path / "repo"
    add(env, repo, foo, app)
    done = push(env, server, repo, f"s3://{bucket}/simple")
    assert done.returncode == 0, done.stderr
    assert_clean(done)
    url = f"{server.endpoint}/{bucket}/simple/"
    assert done.stdout.splitlines()[-1].endswith(f"index at {url}")
    assert s3.dangling(server, bucket, "simple") == []

    body, headers = server.get(bucket, "simple/foo/foo-1.0-py3-none-any.whl")
    assert body == foo.read_bytes()
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-type"] == "application/octet-stream"
    _meta, headers = server.get(bucket, "simple/foo/foo-1.0-py3-none-any.whl.metadata")
    assert "immutable" in headers["cache-control"]
    page, headers = server.get(bucket, "simple/foo/")  # what an installer asks for
    assert page == (repo / "foo" / "index.html").read_bytes()
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=60"
    _json, headers = server.get(bucket, "simple/foo/index.json")
    assert headers["content-type"] == "application/vnd.pypi.simple.v1+json"

    # Anonymous reads, nothing of pipwrap's in the way: the bucket is the index.
    plain = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    target = tmp_path / "by-pip"
    by_pip = pip_install(plain, target, url, "hello-app")
    assert by_pip.returncode == 0, by_pip.stdout + by_pip.stderr
    assert (target / "foo" / "__init__.py").exists()
    assert (target / "hello_app" / "__init__.py").exists()
    by_uv = uv_install(plain, tmp_path, url, "hello-app")
    assert by_uv.returncode == 0, by_uv.stderr
    assert "foo==1.0" in by_uv.stderr and "hello-app==1.0" in by_uv.stderr


def test_json_pages_at_the_slash_for_upload_times(
    server: s3.S3Server, env: dict[str, str], tmp_path: Path
) -> None:
    bucket, _repo = published(env, server, tmp_path, "json-pages", ("Foo", "1.0"),
                              options=("--page-format", "json"))
    page, headers = server.get(bucket, "simple/foo/")
    assert headers["content-type"] == "application/vnd.pypi.simple.v1+json"
    assert json.loads(page)["files"][0]["upload-time"]
    by_uv = uv_install(env, tmp_path, f"{server.endpoint}/{bucket}/simple/", "foo")
    assert by_uv.returncode == 0, by_uv.stderr


def test_the_bucket_top_with_the_endpoint_from_the_environment(
    server: s3.S3Server, env: dict[str, str], tmp_path: Path
) -> None:
    """No prefix: the index is the bucket's top (no root page there: that URL lists the
    bucket); AWS_ENDPOINT_URL instead of --endpoint-url, as boto3 takes it."""
    bucket = server.bucket("whole-bucket")
    repo = tmp_path / "repo"
    add(env, repo, make_wheel(tmp_path / "w", "Foo", "1.0", "local"))
    done = pipwrap({**env, "AWS_ENDPOINT_URL": server.endpoint}, "repo", "push", "--repo",
                   str(repo), f"s3://{bucket}")
    assert done.returncode == 0, done.stderr
    url = f"{server.endpoint}/{bucket}/"
    assert done.stdout.splitlines()[-1].endswith(f"index at {url}"), done.stdout
    assert "" not in server.objects(bucket) and "foo/" in server.objects(bucket)
    by_pip = pip_install(env, tmp_path / "by-pip", url, "foo")
    assert by_pip.returncode == 0, by_pip.stdout + by_pip.stderr


def test_repush_is_a_no_op_and_a_change_uploads_only_what_changed(
    server: s3.S3Server, env: dict[str, str], tmp_path: Path
) -> None:
    bucket, repo = published(env, server, tmp_path, "incremental", ("Foo", "1.0"),
                             ("bar", "1.0"))
    wheels = tmp_path / "wheels"
    before = server.objects(bucket)

    again = push(env, server, repo, f"s3://{bucket}/simple")
    assert again.returncode == 0, again.stderr
    assert actions(again) == []
    assert "0 uploaded, 0 deleted, 13 unchanged" in again.stdout  # 2 x (whl, .metadata,
    assert server.objects(bucket) == before  # 3 pages) + 3 root pages; nothing rewritten

    add(env, repo, make_wheel(wheels, "Foo", "2.0", "local"))
    changed = push(env, server, repo, f"s3://{bucket}/simple")
    assert changed.returncode == 0, changed.stderr
    assert actions(changed) == [
        "uploaded: foo/foo-2.0-py3-none-any.whl",
        "uploaded: foo/foo-2.0-py3-none-any.whl.metadata",
        "uploaded: foo/index.html", "uploaded: foo/index.json", "uploaded: foo/",
    ]
    after = server.objects(bucket)
    for key in ("simple/bar/", "simple/bar/bar-1.0-py3-none-any.whl", "simple/index.html",
                "simple/foo/foo-1.0-py3-none-any.whl"):
        assert after[key]["LastModified"] == before[key]["LastModified"], key

    # An object changed behind pipwrap's back (its ETag changes) is pushed again.
    server.client().put_object(Bucket=bucket, Key="simple/bar/index.html", Body=b"defaced")
    healed = push(env, server, repo, f"s3://{bucket}/simple")
    assert actions(healed) == ["uploaded: bar/index.html"]


def test_a_removed_file_is_deleted_after_the_pages_stop_listing_it(
    server: s3.S3Server, env: dict[str, str], tmp_path: Path
) -> None:
    bucket, repo = published(env, server, tmp_path, "removals", ("Foo", "1.0"),
                             ("Foo", "2.0"), ("gone", "1.0"))
    for spec in ("foo==1.0", "gone"):
        assert pipwrap(env, "repo", "remove", "--repo", str(repo), spec).returncode == 0
    done = push(env, server, repo, f"s3://{bucket}/simple")
    assert done.returncode == 0, done.stderr
    steps = actions(done)
    assert steps == [
        "uploaded: foo/index.html", "uploaded: foo/index.json", "uploaded: foo/",
        "uploaded: index.html", "uploaded: index.json", "uploaded: (root)",
        "deleted: foo/foo-1.0-py3-none-any.whl",
        "deleted: foo/foo-1.0-py3-none-any.whl.metadata",
        "deleted: gone/", "deleted: gone/gone-1.0-py3-none-any.whl",
        "deleted: gone/gone-1.0-py3-none-any.whl.metadata",
        "deleted: gone/index.html", "deleted: gone/index.json",
    ]
    keys = set(server.objects(bucket))
    assert "simple/foo/foo-2.0-py3-none-any.whl" in keys
    assert not any(k.startswith("simple/gone/") or "foo-1.0" in k for k in keys)
    assert s3.dangling(server, bucket, "simple") == []


def test_check_and_dry_run_compare_and_write_nothing(
    server: s3.S3Server, env: dict[str, str], tmp_path: Path
) -> None:
    bucket = server.bucket("checked")
    wheels = tmp_path / "wheels"
    repo = tmp_path / "repo"
    add(env, repo, make_wheel(wheels, "Foo", "1.0", "local"))
    new = push(env, server, repo, f"s3://{bucket}/simple", "--check")
    assert new.returncode == 1, new.stderr
    assert "to upload: foo/foo-1.0-py3-none-any.whl" in new.stdout
    assert server.objects(bucket) == {}  # not even the manifest
    assert push(env, server, repo, f"s3://{bucket}/simple").returncode == 0
    same = push(env, server, repo, f"s3://{bucket}/simple", "--check")
    assert (same.returncode, same.stdout.strip()) == (
        0, f"s3://{bucket}/simple: up to date (8 unchanged)")

    before = server.objects(bucket)
    add(env, repo, make_wheel(wheels, "Foo", "2.0", "local"))
    differs = push(env, server, repo, f"s3://{bucket}/simple", "--check")
    assert differs.returncode == 1
    assert "to upload: foo/foo-2.0-py3-none-any.whl" in differs.stdout
    assert "3 to upload" not in differs.stdout and "5 to upload, 0 to delete" in differs.stdout
    dry = push(env, server, repo, f"s3://{bucket}/simple", "--dry-run")
    assert dry.returncode == 0 and dry.stdout == differs.stdout
    assert server.objects(bucket) == before


def _interrupt(env: dict[str, str], server: s3.S3Server, repo: Path, target: str,
               after_lines: int) -> None:
    """Start a push and SIGKILL it once it has printed ``after_lines`` lines."""
    process = subprocess.Popen(
        [PY, "-m", "pipwrap", "repo", "push", "--repo", str(repo), target,
         "--endpoint-url", server.endpoint], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        for _ in range(after_lines):
            if not process.stdout.readline():
                break
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize("after_lines", [1, 12, 30])
def test_a_push_killed_mid_way_leaves_a_consistent_bucket_and_a_repush_finishes(
    server: s3.S3Server, env: dict[str, str], tmp_path: Path, after_lines: int
) -> None:
    bucket = server.bucket(f"killed-{after_lines}")
    wheels = tmp_path / "wheels"
    repo = tmp_path / "repo"
    add(env, repo, *(make_wheel(wheels, f"proj{n}", "1.0", "v1") for n in range(8)))
    assert push(env, server, repo, f"s3://{bucket}/simple").returncode == 0
    # A second state that rewrites pages and deletes: new versions in, old ones out.
    add(env, repo, *(make_wheel(wheels, f"proj{n}", "2.0", "v2") for n in range(8)),
        *(make_wheel(wheels, f"extra{n}", "1.0", "x") for n in range(6)))
    for n in range(8):
        assert pipwrap(env, "repo", "remove", "--repo", str(repo),
                       f"proj{n}==1.0").returncode == 0
    _interrupt(env, server, repo, f"s3://{bucket}/simple", after_lines)
    assert s3.dangling(server, bucket, "simple") == []

    finished = push(env, server, repo, f"s3://{bucket}/simple")
    assert finished.returncode == 0, finished.stderr
    assert s3.dangling(server, bucket, "simple") == []
    keys = {k for k in server.objects(bucket) if not k.endswith(".pipwrap-push.json")}
    assert keys == {f"simple/{p.relative_to(repo)}" for p in repo.rglob("*")
                    if p.is_file() and ".pipwrap" not in p.parts} | {
        "simple/", *(f"simple/{p.name}/" for p in repo.iterdir()
                     if p.is_dir() and p.name != ".pipwrap")}
    assert actions(push(env, server, repo, f"s3://{bucket}/simple")) == []


def test_errors_are_one_line_and_never_show_credentials(
    server: s3.S3Server, env: dict[str, str], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    add(env, repo, make_wheel(tmp_path / "w", "Foo", "1.0", "local"))
    target = "s3://no-such-bucket/simple"
    cases = {
        "no bucket named 'no-such-bucket' at": push(env, server, repo, target),
        "cannot reach http://127.0.0.1:1 ": pipwrap(
            env, "repo", "push", "--repo", str(repo), target, "--endpoint-url",
            "http://127.0.0.1:1"),
        "not a bucket name": push(env, server, repo, "s3://A_B/x"),
        "expected s3://BUCKET/PREFIX": push(env, server, repo, "https://example.com/x"),
        "no credentials found": push(
            {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID",
                                                        "AWS_SECRET_ACCESS_KEY")},
            server, repo, target),
    }
    foreign = server.bucket("someone-elses")
    server.client().put_object(Bucket=foreign, Key="simple/report.pdf", Body=b"mine")
    cases["holds 1 object (e.g. report.pdf) not written by pipwrap repo push"] = push(
        env, server, repo, f"s3://{foreign}/simple")
    with s3.moto_server(tmp_path, check_auth=True) as strict:
        cases["access denied (InvalidAccessKeyId) to bucket 'no-such-bucket'"] = push(
            env, strict, repo, target)
    for expected, done in cases.items():
        assert done.returncode == 2, (expected, done.stdout, done.stderr)
        assert_clean(done)
        assert expected in done.stderr, (expected, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert set(server.objects(foreign)) == {"simple/report.pdf"}
    adopted = push(env, server, repo, f"s3://{foreign}/simple", "--adopt")
    assert adopted.returncode == 0, adopted.stderr
    assert "deleted: report.pdf" in adopted.stdout


def test_without_the_extra_push_says_how_to_install_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    # boto3 made unimportable, as in an environment installed without pipwrap-cli[s3].
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "boto3.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'boto3'\", name='boto3')\n")
    repo = tmp_path / "repo"
    add(env, repo, make_wheel(tmp_path / "w", "Foo", "1.0", "local"))
    done = pipwrap({**env, "PYTHONPATH": str(shadow)}, "repo", "push", "--repo", str(repo),
                   "s3://bucket/simple")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "pipwrap: repo push needs boto3, the S3 client of the optional extra "
        f"pipwrap-cli[s3]; install it with: {PY} -m pip install boto3")


def test_nothing_else_imports_the_s3_client(env: dict[str, str], tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    add(env, repo, make_wheel(tmp_path / "w", "Foo", "1.0", "local"))
    for argv in (["repo", "list", "--repo", str(repo)], ["repo", "push", "--help"],
                 ["repo", "index", "--repo", str(repo)]):
        done = subprocess.run([PY, "-X", "importtime", "-m", "pipwrap", *argv], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert "botocore" not in done.stderr and "boto3" not in done.stderr, argv
    assert os.path.exists(repo / "index.html")


@pytest.fixture(scope="module")
def team_bucket(server: s3.S3Server, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[str, str]]:
    """(the bucket's index URL, a stand-in PyPI's): the team pushed Foo 1.0 and hello-app
    (needs foo and dep-lib); the stand-in PyPI holds an evil Foo 9.9.9, the legit dep-lib
    and an evil acme-internal squatting the team's reserved prefix."""
    from tests.support.servers import serving

    base = tmp_path_factory.mktemp("team-bucket")
    env = s3.s3_env(shells.isolated_env(base / "home"))
    repo = base / "repo"
    add(env, repo, make_wheel(base / "own", "Foo", "1.0", "local"),
        make_wheel(base / "own", "hello-app", "1.0", "local", requires_dist=("foo", "dep-lib")))
    bucket = server.bucket("team-sources")
    assert push(env, server, repo, f"s3://{bucket}/simple").returncode == 0
    make_wheel(base / "pypi", "Foo", "9.9.9", "evil")
    make_wheel(base / "pypi", "dep-lib", "1.0", "upstream")
    make_wheel(base / "pypi", "acme-internal", "1.0", "evil")
    with serving(base / "pypi") as pypi:
        yield f"{server.endpoint}/{bucket}/simple/", pypi.url


def _bucket_profile(sandbox: Sandbox, bucket_url: str, pypi_url: str) -> None:
    sandbox.write_config(
        'default = "team"\n[profiles.team]\n'
        f'index-url = "{bucket_url}"\nfallback = ["{pypi_url}"]\nreserved = ["acme-*"]\n')


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_wrap_installs_from_the_bucket_first_and_the_fallback_second(
    sandbox: Sandbox, team_bucket: tuple[str, str], venv: Path, installer: str
) -> None:
    bucket_url, pypi_url = team_bucket
    _bucket_profile(sandbox, bucket_url, pypi_url)
    target, other = sandbox.home / "t", sandbox.home / "t2"
    if installer == "pip":
        install = "wrap pip install --no-cache-dir --target {} {}"
    else:
        install = (f"wrap uv pip install --no-cache --python {venv}/bin/python "
                   "--target {} {}")
    done = sandbox.sh("bash", "\n".join([
        install.format(target, "hello-app") + "; echo status=$?",
        install.format(other, "acme-internal") + "; echo refused=$?",
    ]))
    assert "status=0" in done.stdout, done.stdout + done.stderr
    assert installed(target) == ("local", "1.0")  # the bucket's, never the evil 9.9.9
    assert installed(target, "hello_app") == ("local", "1.0")
    assert installed(target, "dep_lib") == ("upstream", "1.0")  # from the fallback
    assert "refused=0" not in done.stdout
    assert installed(other, "acme_internal") is None
    assert "'acme-internal' is reserved (pattern 'acme-*')" in done.stderr, done.stderr


def test_a_bucket_that_denies_reads_gives_nothing_from_the_fallback(
    sandbox: Sandbox, server: s3.S3Server, team_bucket: tuple[str, str], tmp_path: Path
) -> None:
    """A bucket made private (403 to anonymous reads) fails closed: the fallback's Foo
    9.9.9 must not come in its place."""
    _bucket_url, pypi_url = team_bucket
    private = server.bucket("team-private", public=False)
    env = s3.s3_env(shells.isolated_env(tmp_path / "pusher"))
    repo = tmp_path / "repo"
    add(env, repo, make_wheel(tmp_path / "own", "Foo", "1.0", "local"))
    assert push(env, server, repo, f"s3://{private}/simple").returncode == 0
    _bucket_profile(sandbox, f"{server.endpoint}/{private}/simple/", pypi_url)
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f"wrap pip install --no-cache-dir --target {target} foo; "
                              "echo status=$?")
    assert "status=0" not in done.stdout, done.stdout + done.stderr
    assert installed(target) is None
    assert "fail" in done.stderr and "closed" in done.stderr, done.stderr


def test_json_pages_let_a_cooldown_see_the_buckets_upload_times(
    sandbox: Sandbox, server: s3.S3Server, team_bucket: tuple[str, str], tmp_path: Path
) -> None:
    """With --page-format json, `…/NAME/` carries PEP 700 upload times: a profile's
    cooldown hides a release pushed a moment ago, and an exempt name still installs."""
    _bucket_url, pypi_url = team_bucket
    env = s3.s3_env(shells.isolated_env(tmp_path / "pusher"))
    bucket, _repo = published(env, server, tmp_path, "team-json", ("Foo", "1.0"),
                              options=("--page-format", "json"))
    index = f"{server.endpoint}/{bucket}/simple/"
    config = ('default = "team"\n[profiles.team]\n'
              f'index-url = "{index}"\nfallback = ["{pypi_url}"]\ncooldown = "7 days"\n')
    sandbox.write_config(config)
    hidden = sandbox.sh("bash", f"wrap pip install --no-cache-dir --target {sandbox.home}/t "
                                "foo; echo status=$?")
    assert "status=0" not in hidden.stdout, hidden.stdout + hidden.stderr
    assert installed(sandbox.home / "t") is None  # and never the fallback's 9.9.9
    assert "cooldown 7 days hides" in hidden.stderr, hidden.stderr
    sandbox.write_config(config + 'cooldown-exempt = ["foo"]\n')
    exempt = sandbox.sh("bash", f"wrap pip install --no-cache-dir --target {sandbox.home}/e "
                                "foo; echo status=$?")
    assert "status=0" in exempt.stdout, exempt.stdout + exempt.stderr
    assert installed(sandbox.home / "e") == ("local", "1.0")


def test_check_on_a_tree_whose_index_lists_a_missing_file_is_one_line(
    server: s3.S3Server, env: dict[str, str], tmp_path: Path
) -> None:
    bucket, repo = published(env, server, tmp_path, "stale-tree", ("Foo", "1.0"))
    (repo / "foo" / "foo-1.0-py3-none-any.whl.metadata").unlink()  # by hand
    done = push(env, server, repo, f"s3://{bucket}/simple", "--check")
    assert done.returncode == 2, done.stdout + done.stderr
    assert_clean(done)
    assert "the index does not match the tree (run: pipwrap repo index" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    healed = push(env, server, repo, f"s3://{bucket}/simple")  # re-indexes first
    assert healed.returncode == 0, healed.stderr
    assert actions(healed) == []
