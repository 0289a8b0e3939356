"""The ``pipwrap repo ...`` and ``pipwrap serve`` subcommands: parsing and printing."""

from __future__ import annotations

import os
import shlex
import sys

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from pipwrap.repo.access import Access
    from pipwrap.repo.index import Report
    from pipwrap.repo.mirror import Settings as CacheSettings
    from pipwrap.repo.permissions import UpstreamNames

REPO_HELP = """\
A PEP 503 tree of your distributions, DIR/<normalized-name>/<file>, with a complete static
index written inside it (HTML and JSON, sha256 hashes, requires-python, .metadata files,
yanks, upload times). The tree is an index as it is: file://DIR/, any static web server
rooted at DIR, `pipwrap serve`, nginx (`pipwrap repo nginx-conf`) or pypiserver.

  pipwrap repo add dist/*          put wheels and sdists in, keep the index current
  pipwrap serve                    serve it at http://127.0.0.1:8080/simple/
  wrap pip install NAME            the built-in `local` profile points there

DIR: --repo, else $PIPWRAP_REPO, else the user data directory's pipwrap/repo.
"""


def _add_repo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo", metavar="DIR",
        help="the repository directory (default: $PIPWRAP_REPO, else "
             "~/.local/share/pipwrap/repo)",
    )


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    if name == "serve":
        _add_serve(parser)
        return
    import argparse

    from pipwrap.repo import defaults

    parser.description = REPO_HELP
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    actions = parser.add_subparsers(dest="repo_command", metavar="ACTION")

    add = actions.add_parser(
        "add", help="add wheels and sdists (immutable: same bytes again is a no-op)",
        description="Copy distributions into DIR/<normalized-name>/ and update the index. "
        "Each file's name and core metadata are checked first; a file whose metadata "
        "contradicts its name, or other bytes under a name already held, is refused and "
        "nothing is added.",
    )
    _add_repo(add)
    add.add_argument("files", nargs="+", metavar="DIST")

    listing = actions.add_parser("list", aliases=["ls"], help="list projects and versions")
    _add_repo(listing)
    listing.add_argument("--json", action="store_true", help="print machine-readable JSON")

    remove = actions.add_parser(
        "remove", aliases=["rm"], help="delete a project, or one version of it",
        description="Delete every file of NAME, or of NAME==VERSION, and update the index. "
        "Prefer `repo yank` for a release people may have pinned. Once the last file is "
        "gone the name stays held here (never sent to the fallback) until `repo release`.",
    )
    _add_repo(remove)
    remove.add_argument("spec", metavar="NAME[==VERSION]")

    release = actions.add_parser(
        "release", help="give up a held name that has no files left",
        description="A project whose files were all removed keeps its name held: serve and "
        "nginx answer it from here (with no files), never from the fallback. `release` "
        "deletes it, with its owners, so that the name goes to the fallback again.",
    )
    _add_repo(release)
    release.add_argument("name", metavar="NAME")

    owner = actions.add_parser(
        "owner", help="who may upload to a project (serve with logins)",
        description="With logins, the first login to upload a new project owns it, and only "
        "its owners may upload to it. A project added with `repo add` has no owner until "
        "given one here, and takes no upload until then. With a fallback, a name the "
        "upstream serves takes no first upload until `owner add` claims it here.",
    )
    owner_actions = owner.add_subparsers(dest="owner_command", metavar="ACTION")
    for verb, summary in (("add", "make USER an owner of NAME"),
                          ("remove", "take USER off NAME's owners")):
        change = owner_actions.add_parser(verb, help=summary)
        _add_repo(change)
        change.add_argument("name", metavar="NAME")
        change.add_argument("user", metavar="USER")
    owners_list = owner_actions.add_parser("list", help="owners of NAME, or of every project")
    _add_repo(owners_list)
    owners_list.add_argument("name", metavar="NAME", nargs="?")

    yank = actions.add_parser(
        "yank", help="mark a release yanked (PEP 592)",
        description="Mark every file of NAME==VERSION yanked: installers skip it unless it "
        "is pinned with ==. The files stay. --undo takes the mark away.",
    )
    _add_repo(yank)
    yank.add_argument("spec", metavar="NAME==VERSION")
    yank.add_argument("--reason", metavar="TEXT", help="shown by pip when it is installed")
    yank.add_argument("--undo", action="store_true", help="un-yank the release")

    build = actions.add_parser(
        "index", help="bring the static index up to date (incremental)",
        description="Write the static index inside DIR: only new files are read and only "
        "changed pages are rewritten; with no change nothing is written. Files dropped into "
        "DIR/<name>/ by hand are picked up here. A project directory whose mtime has not "
        "changed is not listed again: published files are immutable, so a file replaced "
        "in place (same name, new bytes) needs --full.",
    )
    _add_repo(build)
    build.add_argument("--full", action="store_true",
                       help="list every project directory again (files still matched by "
                       "size and mtime)")
    build.add_argument("-q", "--quiet", action="store_true", help="print only warnings")

    from pipwrap.commands import repo_push

    repo_push.add_arguments(actions, _add_repo)

    path = actions.add_parser("path", help="print the repository directory")
    _add_repo(path)

    nginx = actions.add_parser(
        "nginx-conf", help="print an nginx configuration serving the tree like serve",
        description="Print an nginx server block that serves DIR at /simple/ with PEP 691 "
        "content negotiation and the same local-first fallback as `pipwrap serve`. "
        "--standalone prints a whole nginx.conf to run as: nginx -p PREFIX -c FILE.",
    )
    _add_repo(nginx)
    nginx.add_argument("--listen", default=f"{defaults.HOST}:{defaults.PORT}",
                       metavar="ADDR", help="nginx listen address (default: %(default)s)")
    _add_fallback(nginx)
    nginx.add_argument("--standalone", metavar="PREFIX",
                       help="a complete nginx.conf whose pid, logs and temp files go in PREFIX")


def _add_serve(serve: argparse.ArgumentParser) -> None:
    from pipwrap.repo import defaults

    serve.description = (
        "Serve the repository's index at http://HOST:PORT/simple/ (kept current "
        "as files are added). A project held locally is answered only from here, so an "
        "upstream release can never outbid yours; a project not held here is redirected to "
        "the fallback index. pip and uv get JSON (PEP 691), browsers HTML.")
    _add_repo(serve)
    serve.add_argument("--host", default=defaults.HOST,
                       help="address to listen on (default: %(default)s, this machine only)")
    serve.add_argument("--port", type=int, default=defaults.PORT,
                       help="port (default: %(default)s; 0 picks a free one)")
    _add_fallback(serve)
    serve.add_argument("--engine", default="granian", metavar="granian",
                       help="the HTTP engine: granian, the only one (the extra "
                       f"{SERVE_EXTRA}); accepted so existing command lines keep working")
    serve.add_argument("--max-connections", type=int, default=None, metavar="N",
                       help="requests handled at once, a download until its last byte; "
                       "more wait their turn, never refused (granian's backpressure; "
                       "default: 1024, the listen backlog)")
    serve.add_argument("--header-timeout", type=float, default=defaults.HEADER_TIMEOUT,
                       metavar="SECONDS", help="time a connection has for each request's "
                       "line and headers, idle keep-alive included (default: %(default)s)")
    serve.add_argument("-v", "--verbose", action="store_true", help="log every request")
    serve.add_argument("--cache", action="store_true",
                       help="fetch and cache the fallback's pages and files here (checked "
                       "against its sha256s) instead of redirecting: clients never contact "
                       "the fallback")
    serve.add_argument("--cache-ttl", type=float, default=600, metavar="SECONDS",
                       help="with --cache: revalidate a cached page after this long "
                       "(default: %(default)s)")
    serve.add_argument("--cache-timeout", type=float, default=defaults.CACHE_TIMEOUT,
                       metavar="SECONDS",
                       help="with --cache: the most an upstream page fetch may take, all "
                       "of it (default: %(default)s)")
    serve.add_argument("--cache-allow-host", action="append", default=[], metavar="HOST[:PORT]",
                       help="with --cache: a host the fallback's pages may send files to, "
                       "besides the fallback's own (pypi.org: files.pythonhosted.org too); "
                       "repeat for more")
    serve.add_argument("--fallback-login-file", metavar="FILE",
                       help="with --cache: the fallback's login, USER:PASSWORD on the first "
                       "line (or only the password, the user in the --fallback URL); or "
                       "the password in $PIPWRAP_FALLBACK_PASSWORD")
    serve.add_argument("--tls-cert", metavar="PEM",
                       help="serve HTTPS with this certificate (chain); logins then never "
                       "cross the network in clear")
    serve.add_argument("--tls-key", metavar="PEM",
                       help="its private key (default: in the --tls-cert file)")
    logins = serve.add_argument_group(
        "uploads and logins",
        "Uploads (twine, uv publish, hatch, flit, poetry) go to http://HOST:PORT/ or "
        "/legacy/. They are off unless --htpasswd or --auth none turns them on.")
    logins.add_argument("--htpasswd", metavar="FILE",
                        help="Apache htpasswd file of logins (htpasswd -B, -m or -s; "
                        "__token__:HASH for a token); turns uploads on, with a login")
    logins.add_argument("--permissions", metavar="FILE",
                        help="TOML file granting rights per login ([users] NAME = \"upload\" "
                        "or \"read\"); with it, only the logins it grants upload may upload")
    logins.add_argument("--auth", metavar="WHAT", default=None,
                        help="what needs a login: 'upload' (the default with --htpasswd), "
                        "'read,upload', or 'none' (anyone who can connect may upload)")
    logins.add_argument("--max-upload", type=int, default=200, metavar="MIB",
                        help="largest upload accepted, in MiB (default: %(default)s)")


SERVE_EXTRA = "pipwrap-cli[serve]"


def _add_fallback(parser: argparse.ArgumentParser) -> None:
    from pipwrap.repo import defaults

    group = parser.add_mutually_exclusive_group()
    group.add_argument("--fallback", metavar="URL", default=defaults.FALLBACK,
                       help="index for projects not held here (default: %(default)s)")
    group.add_argument("--no-fallback", action="store_true",
                       help="answer 404 for projects not held here")


def _root(args: argparse.Namespace) -> str:
    from pipwrap.repo.store import default_repo

    return os.path.abspath(os.path.expanduser(args.repo)) if args.repo else default_repo()


def _fallback(args: argparse.Namespace) -> str | None:
    from pipwrap.repo import defaults

    if args.no_fallback:
        return None
    return defaults.check_fallback(args.fallback,
                                   login_allowed=bool(getattr(args, "cache", False)))


def _warn(report: Report) -> None:
    for moved in report.adopted:
        sys.stderr.write(f"pipwrap: moved into its project directory: {moved}\n")
    for warning in report.warnings:
        sys.stderr.write(f"pipwrap: warning: {warning}\n")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _summary(report: Report) -> str:
    changed = len(report.written) + len(report.removed)
    return (f"{_count(report.projects, 'project')}, {_count(report.files, 'file')}; "
            f"{changed} index file{'s' if changed != 1 else ''} updated")


def run(args: argparse.Namespace) -> int:
    return run_serve(args) if args.command == "serve" else run_repo(args)


def run_serve(args: argparse.Namespace) -> int:
    from pipwrap.repo import hosting, proctitle

    _engine_ready(args)
    if not 0 <= args.port <= 65535:
        raise PipwrapError(f"serve: --port {args.port} is not a port number (0-65535)")
    fallback = _fallback(args)
    if args.cache and fallback is None:
        raise PipwrapError("serve: --cache needs a fallback index to cache (not --no-fallback)")
    if args.cache_ttl < 0:
        raise PipwrapError("serve: --cache-ttl must be 0 or more seconds")
    cache = _cache_settings(args, fallback)
    if args.tls_key and not args.tls_cert:
        raise PipwrapError("serve: --tls-key needs --tls-cert")
    if args.tls_cert:
        hosting.check_tls(args.tls_cert, args.tls_key)
    if (args.max_connections is not None and args.max_connections < 1) \
            or not 0 < args.header_timeout <= 3600:
        raise PipwrapError("serve: --max-connections must be at least 1 and --header-timeout "
                           "between 0 and 3600 seconds")
    root = _serve_root(args)
    access = _access(args, _upstream_names(fallback, cache))
    proctitle.set_title(["pipwrap", *sys.argv[1:]])
    return hosting.serve(root, args.host, args.port, fallback, args.verbose, access, cache,
                         args.tls_cert, args.tls_key, header_timeout=args.header_timeout,
                         max_connections=args.max_connections)


def _engine_ready(args: argparse.Namespace) -> None:
    """serve runs on granian only: refused before anything binds when it is not
    installed (or cannot be, on Python 3.9), with the command that installs it."""
    if args.engine == "threads":
        raise PipwrapError("serve: --engine threads was removed: its hand-written HTTP "
                           "server let slow clients take every thread (issue 23); drop "
                           "--engine, serve runs on granian")
    if args.engine != "granian":
        raise PipwrapError(f"serve: --engine {args.engine!r}: the only engine is granian")
    if sys.version_info < (3, 10):
        raise PipwrapError("serve: needs Python 3.10 or later (its HTTP engine, granian, "
                           "has no release for this Python); run pipwrap with a newer one")
    try:
        from granian.server.embed import Server  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        from pipwrap.install_hint import install_command

        raise PipwrapError(f"serve: needs granian, the optional extra {SERVE_EXTRA}; "
                           f"install it with: {install_command(shlex.quote('granian>=2.8'))}"
                           ) from None
    del Server


def _cache_settings(args: argparse.Namespace, fallback: str | None) -> CacheSettings | None:
    from pipwrap.repo import upstream

    if not args.cache or fallback is None:
        if args.fallback_login_file or args.cache_allow_host:
            raise PipwrapError("serve: --fallback-login-file and --cache-allow-host need "
                               "--cache (without it, clients are redirected to the fallback)")
        return None
    if not 0 < args.cache_timeout <= 3600:
        raise PipwrapError("serve: --cache-timeout must be between 0 and 3600 seconds")
    from pipwrap.repo.mirror import Settings

    url, login = upstream.read_login(fallback, args.fallback_login_file, os.environ)
    hosts: set[str] = set()
    for host in args.cache_allow_host:
        hosts |= upstream.parse_host(host)
    return Settings(url, args.cache_ttl, login, frozenset(hosts), args.cache_timeout)


def _serve_root(args: argparse.Namespace) -> str:
    """The tree to serve. Only the built-in default is created here: a --repo or
    $PIPWRAP_REPO naming a missing directory is a typo until shown otherwise (serving an
    empty tree there would answer every project from the fallback, silently)."""
    from pipwrap.repo.store import REPO_ENV

    root = _root(args)
    if os.path.isdir(root):
        return root
    source = "--repo" if args.repo else f"${REPO_ENV}" if os.environ.get(REPO_ENV) else None
    if source is None:
        return root  # the user data directory's pipwrap/repo: made on first use
    if os.path.lexists(root):
        raise PipwrapError(f"serve: {source} {root} is not a directory")
    raise PipwrapError(f"serve: no repository at {root} ({source}); create it first: "
                       f"mkdir -p {shlex.quote(root)} (an empty index), or pipwrap repo add "
                       f"--repo {shlex.quote(root)} DIST...")


def _upstream_names(fallback: str | None,
                    cache: CacheSettings | None) -> UpstreamNames | None:
    """Who answers "does the upstream serve this name?" for a first upload: the cache's
    upstream as the cache reaches it, or the fallback clients are redirected to."""
    from pipwrap.repo.permissions import UpstreamNames

    if cache is not None:
        return UpstreamNames(cache.upstream, cache.login, cache.allow_hosts, cache.timeout)
    return UpstreamNames(fallback) if fallback else None


def _access(args: argparse.Namespace, upstream: UpstreamNames | None = None) -> Access:
    from pipwrap.repo import auth, permissions
    from pipwrap.repo.access import Access

    wanted = {part.strip() for part in (args.auth or "").split(",") if part.strip()}
    if not wanted <= {"upload", "read", "none"} or ("none" in wanted and len(wanted) > 1):
        raise PipwrapError(f"serve: --auth {args.auth!r}: expected upload, read,upload or none")
    if args.max_upload <= 0:
        raise PipwrapError("serve: --max-upload must be a positive number of MiB")
    limit = args.max_upload * 1024 * 1024
    if args.permissions and not args.htpasswd:
        raise PipwrapError("serve: --permissions needs --htpasswd FILE (the logins it names)")
    if "none" in wanted:
        if args.htpasswd:
            raise PipwrapError("serve: --auth none and --htpasswd contradict each other")
        return Access(uploads=True, login_to_upload=False, max_upload=limit,
                      policy=permissions.Policy(upstream=upstream))
    if not args.htpasswd:
        if wanted:
            raise PipwrapError(f"serve: --auth {args.auth} needs --htpasswd FILE (the logins)")
        return Access(max_upload=limit)
    logins = auth.Logins(os.path.abspath(os.path.expanduser(args.htpasswd)))
    rights = None
    if args.permissions:
        rights = permissions.Rights(os.path.abspath(os.path.expanduser(args.permissions)))
    return Access(logins, uploads=True, login_to_upload=True,
                         login_to_read="read" in wanted, max_upload=limit,
                         policy=permissions.Policy(rights, owners=True, upstream=upstream))


def run_repo(args: argparse.Namespace) -> int:
    command = {"ls": "list", "rm": "remove"}.get(args.repo_command, args.repo_command)
    if command is None:
        raise PipwrapError("repo: an action is needed: add, list, remove, release, yank, "
                           "owner, index, push, path or nginx-conf (see pipwrap repo --help)")
    root = _root(args)
    if command == "path":
        print(root)
        return 0
    if command == "nginx-conf":
        from pipwrap.repo import nginx

        prefix = None
        if args.standalone:
            prefix = os.path.abspath(args.standalone)
        sys.stdout.write(nginx.render(root, args.listen, _fallback(args), prefix=prefix))
        return 0
    from pipwrap.repo import index, store

    if command == "add":
        added, report = store.add(root, args.files)
        for item in added:
            verb = "added" if item.state == "added" else "already present"
            print(f"{verb}: {item.dist.project}/{item.dist.filename}")
        _warn(report)
        print(f"{root}: {_summary(report)}")
        return 0
    if command == "remove":
        found, report = store.remove(root, args.spec)
        for dist in found:
            print(f"removed: {dist.project}/{dist.filename}")
        _warn(report)
        project = found[0].project
        if not _has_files(root, project):
            print(f"{project}: no files left; the name stays held here (never sent to the "
                  f"fallback) until: pipwrap repo release {project}")
        return 0
    if command == "release":
        project, report = store.release(root, args.name)
        print(f"released: {project} (now answered by the fallback, if any)")
        _warn(report)
        return 0
    if command == "owner":
        return _run_owner(root, args)
    if command == "yank":
        found, report = store.yank(root, args.spec, args.reason, undo=args.undo)
        for dist in found:
            print(f"{'un-yanked' if args.undo else 'yanked'}: {dist.project}/{dist.filename}")
        _warn(report)
        return 0
    store.require_repo(root)
    if command == "push":
        from pipwrap.commands import repo_push

        return repo_push.run(args, root)
    if command == "index":
        report = index.build(root, full=args.full)
        _warn(report)
        if not args.quiet:
            print(f"{root}: {_summary(report)}")
        return 0
    report = index.build(root, want_records=True)
    _warn(report)
    return _print_list(root, report, as_json=args.json)


def _has_files(root: str, project: str) -> bool:
    from pipwrap.repo.distfile import looks_like_distribution

    try:
        return any(looks_like_distribution(n) and not n.startswith(".")
                   for n in os.listdir(os.path.join(root, project)))
    except OSError:
        return False


def _run_owner(root: str, args: argparse.Namespace) -> int:
    from pipwrap.repo import owners

    if args.owner_command is None:
        raise PipwrapError("repo owner: an action is needed: add, remove or list")
    if args.owner_command == "list":
        from pipwrap.repo.distfile import normalize

        known = owners.load_owners(root)
        if args.name:
            known = {normalize(args.name): known.get(normalize(args.name), [])}
        for name, users in sorted(known.items()):
            print(f"{name}  {', '.join(users) if users else '(no owner)'}")
        return 0
    try:
        current = owners.change_owner(root, args.name, args.user,
                                      add=args.owner_command == "add")
    except OSError as exc:
        raise PipwrapError(f"repo owner: {exc.filename or root}: {exc.strerror}") from None
    from pipwrap.repo.distfile import normalize

    print(f"{normalize(args.name)}: owners {', '.join(current) or '(none)'}")
    return 0


def _print_list(root: str, report: Report, *, as_json: bool) -> int:
    if as_json:
        import json

        projects = [
            {"name": name, "files": [
                {"filename": r.filename, "version": r.version, "size": r.size,
                 "sha256": r.sha256, "requires_python": r.requires_python,
                 "upload_time": r.upload_time, "yanked": r.yanked is not None,
                 **({"yanked_reason": r.yanked} if r.yanked else {})}
                for r in records]}
            for name, records in sorted(report.records.items())
        ]
        print(json.dumps({"repo": root, "projects": projects}, indent=2))
        return 0
    if not report.records:
        print(f"{root}: no projects yet; add some with: pipwrap repo add DIST...")
        return 0
    for name, records in sorted(report.records.items()):
        versions: list[str] = []
        for record in records:
            shown = record.version + (" (yanked)" if record.yanked is not None else "")
            if shown not in versions:
                versions.append(shown)
        print(f"{name}  {', '.join(versions) or '(no files; its name held: repo release)'}")
    return 0
