"""A real S3 API on loopback (moto's standalone server), and what tests read back from it.

moto_server speaks the S3 REST API over HTTP like AWS does: signed requests from boto3,
anonymous GETs allowed by a bucket policy, keys ending in "/". The tests talk to it as a
person's tools would: `pipwrap repo push` with credentials in the environment, pip and
uv over plain HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.servers import free_port

# Credentials moto accepts (any, unless it is told to check them); never real ones.
ACCESS_KEY = "AKIAPIPWRAPTEST00001"
SECRET_KEY = "pipwrap-s3-Secret-never-shown-0123456789"


class S3Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1").client("s3", endpoint_url=self.endpoint)

    def bucket(self, name: str, *, public: bool = True) -> str:
        """A new bucket; ``public``: anonymous GetObject, as a static index needs."""
        client = self.client()
        client.create_bucket(Bucket=name)
        if public:
            client.put_bucket_policy(Bucket=name, Policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{name}/*"}]}))
        return name

    def objects(self, bucket: str) -> dict[str, dict[str, Any]]:
        """Every key with its ETag, size and LastModified."""
        found: dict[str, dict[str, Any]] = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", ()):
                found[entry["Key"]] = entry
        return found

    def get(self, bucket: str, key: str) -> tuple[bytes, dict[str, str]]:
        """An anonymous GET over plain HTTP, as pip makes it: body and headers."""
        url = f"{self.endpoint}/{bucket}/{urllib.request.quote(key)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read(), {k.lower(): v for k, v in response.headers.items()}


@contextlib.contextmanager
def moto_server(tmp: Path, *, check_auth: bool = False) -> Iterator[S3Server]:
    """moto_server on a free loopback port; ``check_auth``: every request's credentials
    are checked (ours are unknown to it, so each is denied, as AWS denies a wrong key)."""
    executable = Path(sys.executable).parent / "moto_server"
    log = (tmp / f"moto-{os.getpid()}-{time.monotonic_ns()}.log").open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PIP_", "UV_"))}
    if check_auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    for _ in range(5):
        port = free_port()
        process = subprocess.Popen([str(executable), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=log, env=env, start_new_session=True)
        if _ready(process, port):
            break
        _stop(process)
    else:
        raise RuntimeError("moto_server did not start")
    try:
        yield S3Server(process, port)
    finally:
        _stop(process)
        log.close()


def _ready(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def s3_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` plus credentials the way the AWS tools take them, and nothing of the
    developer's own AWS set-up (their HOME is the sandbox's already)."""
    home = Path(env["HOME"])
    return {**env, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(home / ".aws/config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws/credentials")}


_LINK = re.compile(r'href="([^"#]+)')


def dangling(server: S3Server, bucket: str, prefix: str) -> list[str]:
    """What any page in the bucket names that the bucket does not hold (the tree's
    promise: empty at every moment), as "page -> missing key"."""
    from urllib.parse import unquote

    keys = set(server.objects(bucket))
    problems = []
    for key in sorted(keys):
        if not key.startswith(f"{prefix}/"):
            continue
        directory, _, name = key.rpartition("/")
        if name not in ("", "index.html", "index.json"):
            continue
        body, _headers = server.get(bucket, key)
        text = body.decode()
        if text.startswith("{"):
            data = json.loads(text)
            names = [f["url"] for f in data.get("files", ())] + [
                f"{p['name']}/" for p in data.get("projects", ())]
        else:
            names = _LINK.findall(text)
        for name in names:
            wanted = f"{directory}/{unquote(name)}"
            targets = [wanted] if not wanted.endswith("/") else [wanted, wanted + "index.html"]
            if not all(t in keys for t in targets):
                problems.append(f"{key} -> {wanted}")
            if wanted.endswith(".whl") and f"{wanted}.metadata" not in keys:
                problems.append(f"{key} -> {wanted}.metadata")
    return problems
