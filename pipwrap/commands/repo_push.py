"""``pipwrap repo push s3://BUCKET/PREFIX``: the static tree onto object storage.

Parsing and printing only; the order and the comparison are :mod:`pipwrap.repo.objectstore`,
the S3 client :mod:`pipwrap.repo.objectstore_s3` (boto3, imported only when pushing).
"""

from __future__ import annotations

import sys

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

# `--check` found differences (errors are 2, as everywhere in pipwrap).
EXIT_DIFFERS = 1

DESCRIPTION = """\
Publish the repository's static index (what `pipwrap repo index` writes) to S3-compatible
object storage: AWS S3, MinIO, Cloudflare R2, Google Cloud Storage's S3 interface.
Incremental: only objects whose sha256 changed are uploaded (a manifest object,
PREFIX/.pipwrap-push.json, records what was pushed). In the tree's order: files, then
the pages that list them, then deletions of what no page lists any more, so a client
never reads a page naming a missing file, even from a push killed half-way (run it
again). Distribution and .metadata files are sent as immutable; pages with a short
max-age. Each page is also written under the key ending in "/", so the bucket answers
.../NAME/ itself. Credentials come from the AWS chain (environment, AWS_PROFILE,
~/.aws/credentials, SSO, roles), never from the command line. Needs the extra
pipwrap-cli[s3] (boto3).
"""


def add_arguments(actions: argparse._SubParsersAction[argparse.ArgumentParser],
                  add_repo: Callable[[argparse.ArgumentParser], None]) -> None:
    import argparse

    push = actions.add_parser(
        "push", help="publish the static index to S3-compatible object storage",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_repo(push)
    push.add_argument("target", metavar="s3://BUCKET/PREFIX",
                      help="where the index goes; its URL is .../BUCKET/PREFIX/")
    push.add_argument("--endpoint-url", metavar="URL",
                      help="the S3 API's address for a service other than AWS (MinIO, R2, "
                      "GCS: https://storage.googleapis.com); default: AWS, or "
                      "AWS_ENDPOINT_URL")
    push.add_argument("--region", metavar="NAME",
                      help="the bucket's region (default: AWS_REGION / the AWS config)")
    push.add_argument("--page-format", choices=("html", "json"), default="html",
                      help="what .../NAME/ answers, since a bucket cannot negotiate: html "
                      "(every installer; default) or json (PEP 691: upload times, for "
                      "cooldowns and uv --exclude-newer; pip >= 22.2, uv)")
    push.add_argument("--page-max-age", type=int, default=60, metavar="SECONDS",
                      help="Cache-Control max-age of the pages (default: %(default)s); "
                      "files are always immutable")
    check = push.add_mutually_exclusive_group()
    check.add_argument("--check", action="store_true",
                       help="compare only: list what differs and exit 1 if anything does; "
                       "writes nothing (not even the local index)")
    check.add_argument("--dry-run", action="store_true",
                       help="print what a push would upload and delete; write nothing")
    push.add_argument("--adopt", action="store_true",
                      help="take over a prefix that holds objects pipwrap did not write "
                      "(they are deleted unless the tree holds them)")
    push.add_argument("-q", "--quiet", action="store_true",
                      help="print only the summary line")


def run(args: argparse.Namespace, root: str) -> int:
    from pipwrap.repo import objectstore, objectstore_s3

    target = objectstore_s3.parse_target(args.target)
    if not 0 <= args.page_max_age <= 31536000:
        raise PipwrapError("repo push: --page-max-age must be 0 to 31536000 seconds")
    # The client first: without the extra, say so before touching anything.
    remote = objectstore_s3.S3Remote(target, args.endpoint_url, args.region)
    comparing = args.check or args.dry_run
    items, warnings = objectstore.snapshot(root, page_format=args.page_format,
                                           page_max_age=args.page_max_age,
                                           build=not comparing,
                                           root_key=bool(target.prefix))
    for warning in warnings:
        sys.stderr.write(f"pipwrap: warning: {warning}\n")
    try:
        plan = objectstore.plan(items, remote, adopt=args.adopt)
    except objectstore.Foreign as exc:
        raise PipwrapError(f"repo push: {target} holds {exc}; push to an empty prefix, or "
                           "pass --adopt to replace them with the tree") from None
    shown = not args.quiet
    if comparing:
        if shown:
            for item in plan.uploads:
                print(f"to upload: {item.key or '(root)'}")
            for key in plan.deletions:
                print(f"to delete: {key}")
        state = "up to date" if plan.empty else (
            f"{len(plan.uploads)} to upload, {len(plan.deletions)} to delete")
        print(f"{target}: {state} ({plan.unchanged} unchanged)")
        return EXIT_DIFFERS if (args.check and not plan.empty) else 0

    def progress(action: str, key: str) -> None:
        if shown:
            print(f"{action}: {key or '(root)'}", flush=True)

    if not plan.empty:
        objectstore.push(plan, remote, progress=progress)
    print(f"{target}: {len(plan.uploads)} uploaded, {len(plan.deletions)} deleted, "
          f"{plan.unchanged} unchanged; index at {remote.public_url()}")
    return 0
