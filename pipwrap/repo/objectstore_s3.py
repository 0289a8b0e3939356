"""The S3 API (AWS S3, MinIO, Cloudflare R2, GCS's XML interface) through boto3.

boto3 is the optional extra ``pipwrap-cli[s3]``, imported here only: nothing else in
pipwrap pays its ~0.1 s import. Why boto3 and not obstore (measured in
docs/hosting-team.md): obstore cannot write a key ending in ``/`` (its paths drop the
trailing delimiter), which is how a bucket answers ``…/simple/NAME/`` without a web
front; and obstore reads credentials from the environment only, not from
``~/.aws/config`` profiles or SSO, where people keep them.

Credentials come only from boto3's own chain (environment, ``AWS_PROFILE`` and the
shared files, SSO, instance and container roles): never from pipwrap's arguments, and
no message here ever contains one.
"""

from __future__ import annotations

import os
import re

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pipwrap.repo.objectstore import Item

EXTRA = "s3"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden", "403",
           "InvalidToken", "ExpiredToken", "AllAccessDisabled", "AccountProblem"}


class Target:
    """``s3://BUCKET/PREFIX``: the bucket and the prefix (no leading or trailing ``/``)."""

    __slots__ = ("bucket", "prefix")

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative


def parse_target(url: str) -> Target:
    if not url.startswith("s3://"):
        raise PipwrapError(f"repo push: {url!r}: expected s3://BUCKET/PREFIX")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise PipwrapError(f"repo push: {url!r}: {bucket!r} is not a bucket name (3-63 "
                           "lowercase letters, digits, dots and hyphens)")
    prefix = prefix.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise PipwrapError(f"repo push: {url!r}: the prefix has an empty, '.' or '..' part")
    return Target(bucket, prefix)


def missing_client_message() -> str:
    from pipwrap.install_hint import DISTRIBUTION, install_command

    return (f"repo push needs boto3, the S3 client of the optional extra "
            f"{DISTRIBUTION}[{EXTRA}]; install it with: {install_command('boto3')}")


class S3Remote:
    """One bucket and prefix, through a boto3 client (see :class:`objectstore.Remote`)."""

    def __init__(self, target: Target, endpoint_url: str | None = None,
                 region: str | None = None) -> None:
        try:
            import boto3  # type: ignore[import-untyped, import-not-found, unused-ignore]
            from botocore.config import Config  # type: ignore[import-untyped, import-not-found, unused-ignore]
        except ImportError:
            raise PipwrapError(missing_client_message()) from None
        self.target = target
        # boto3 also takes the endpoint from the environment (or a profile's endpoint_url).
        custom = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
            "AWS_ENDPOINT_URL")
        settings: dict[str, Any] = {
            "retries": {"max_attempts": 3, "mode": "standard"},
            "connect_timeout": 10, "read_timeout": 60, "max_pool_connections": 16,
            # Another S3 service (MinIO, R2, GCS, a test server) is reached at its own
            # address: path-style requests need no wildcard DNS there.
            "s3": {"addressing_style": "path" if custom else "auto"},
        }
        if custom and "AWS_REQUEST_CHECKSUM_CALCULATION" not in os.environ:
            # botocore >= 1.36 sends CRC32 trailers that some other services refuse; the
            # bytes are checked by their sha256 in the pages anyway.
            settings["request_checksum_calculation"] = "when_required"
        try:
            config = Config(**settings)
        except TypeError:  # an older botocore, which sends no such trailers
            settings.pop("request_checksum_calculation", None)
            config = Config(**settings)
        try:
            self.client: Any = boto3.session.Session().client(
                "s3", endpoint_url=endpoint_url, region_name=region, config=config)
        except Exception as exc:  # a malformed endpoint URL, an unknown profile...
            self.endpoint_url = endpoint_url
            raise PipwrapError(f"repo push: {_describe(exc, self)}") from None
        self.region = self.client.meta.region_name
        actual = str(self.client.meta.endpoint_url or "")
        self.endpoint_url = endpoint_url or (
            actual if actual and not actual.endswith(".amazonaws.com") else None)

    def public_url(self) -> str:
        """Where the bucket answers plain HTTP GETs (anonymous read, if allowed)."""
        path = f"{self.target.prefix}/" if self.target.prefix else ""
        if self.endpoint_url:
            return f"{self.endpoint_url.rstrip('/')}/{self.target.bucket}/{path}"
        region = self.region or "us-east-1"
        if "." in self.target.bucket:
            # A dotted name breaks the wildcard certificate of the virtual-hosted form.
            return f"https://s3.{region}.amazonaws.com/{self.target.bucket}/{path}"
        return f"https://{self.target.bucket}.s3.{region}.amazonaws.com/{path}"

    def _call(self, what: str, function: Any, **kwargs: Any) -> Any:
        try:
            return function(Bucket=self.target.bucket, **kwargs)
        except Exception as exc:
            raise PipwrapError(f"repo push: {what}: {_describe(exc, self)}") from None

    def listing(self) -> dict[str, tuple[str, int]]:
        start = f"{self.target.prefix}/" if self.target.prefix else ""
        found: dict[str, tuple[str, int]] = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.target.bucket, Prefix=start)
        try:
            for page in pages:
                for entry in page.get("Contents", ()):
                    found[entry["Key"][len(start):]] = (_etag(entry["ETag"]),
                                                        int(entry["Size"]))
        except Exception as exc:
            raise PipwrapError(f"repo push: listing {self.target}: "
                               f"{_describe(exc, self)}") from None
        return found

    def read(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError  # type: ignore[import-untyped, import-not-found, unused-ignore]

        full = self.target.key(key)
        try:
            answer = self.client.get_object(Bucket=self.target.bucket, Key=full)
            data: bytes = answer["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise PipwrapError(f"repo push: reading s3://{self.target.bucket}/{full}: "
                               f"{_describe(exc, self)}") from None
        except Exception as exc:
            raise PipwrapError(f"repo push: reading s3://{self.target.bucket}/{full}: "
                               f"{_describe(exc, self)}") from None
        return data

    def put(self, item: Item) -> str:
        full = self.target.key(item.key)
        headers = {"Key": full, "ContentType": item.content_type,
                   "CacheControl": item.cache_control, "Metadata": {"sha256": item.sha256}}
        what = f"uploading s3://{self.target.bucket}/{full}"
        if item.data is not None or item.path is None:
            answer = self._call(what, self.client.put_object, Body=item.data or b"",
                                **headers)
        else:
            try:
                handle = open(item.path, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise PipwrapError(f"repo push: {item.path}: {exc.strerror}; the tree changed "
                                   "during the push: run it again") from None
            with handle:
                answer = self._call(what, self.client.put_object, Body=handle,
                                    ContentLength=item.size, **headers)
        return _etag(answer["ETag"])

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        full = self.target.key(key)
        self._call(f"writing s3://{self.target.bucket}/{full}", self.client.put_object,
                   Key=full, Body=data, ContentType=content_type, CacheControl="no-store")

    def delete(self, keys: list[str]) -> None:
        objects = [{"Key": self.target.key(key)} for key in keys]
        answer = self._call(f"deleting from {self.target}", self.client.delete_objects,
                            Delete={"Objects": objects, "Quiet": True})
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise PipwrapError(f"repo push: deleting s3://{self.target.bucket}/"
                               f"{first.get('Key')}: {first.get('Code')}: "
                               f"{first.get('Message')}")


def _etag(value: object) -> str:
    """Services differ in quoting an ETag between a PUT's answer and a listing."""
    return str(value).strip('"')


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = error.get("Code")
        if code:
            return str(code)
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if status:
            return str(status)
    return ""


def _describe(exc: Exception, remote: S3Remote) -> str:
    """One line a person can act on, for what botocore raised. botocore's messages name
    the operation and the service's error; none carries a credential."""
    from botocore import exceptions  # type: ignore[import-untyped, import-not-found, unused-ignore]

    bucket = remote.target.bucket
    where = remote.endpoint_url or "AWS S3"
    if isinstance(exc, exceptions.NoCredentialsError):
        return ("no credentials found; give them the way the AWS tools take them "
                "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials, "
                "SSO or an instance role), never on the command line")
    if isinstance(exc, exceptions.ProfileNotFound):
        return f"{exc} (AWS_PROFILE names a profile that is not in ~/.aws/config)"
    if isinstance(exc, (exceptions.EndpointConnectionError, exceptions.ConnectTimeoutError,
                        exceptions.ReadTimeoutError, exceptions.ConnectionClosedError)):
        return f"cannot reach {where} ({type(exc).__name__}); check --endpoint-url and the network"
    if isinstance(exc, ValueError) and remote.endpoint_url:
        return f"--endpoint-url {remote.endpoint_url!r}: {exc}"
    code = _code(exc)
    if code in ("NoSuchBucket",):
        return f"no bucket named {bucket!r} at {where}"
    if code in _DENIED:
        return (f"access denied ({code}) to bucket {bucket!r} at {where}; check the "
                "credentials and the bucket's policy")
    if code == "PermanentRedirect" or code == "301":
        return (f"bucket {bucket!r} is in another region; give it with --region "
                "(or AWS_REGION)")
    if code:
        message = (getattr(exc, "response", {}).get("Error") or {}).get("Message") or ""
        return f"{code}: {message}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
