"""The guard's entry points: check one command, and the files pip's config names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipwrap.guard.context import Context


class FileRef:
    """A file (or requirement) pip's settings name, and where it was named."""

    __slots__ = ("kind", "origin", "path")

    def __init__(self, path: str, kind: str, origin: str) -> None:
        self.path = path
        self.kind = kind  # "requirement", "constraint", or "direct" (a requirement itself)
        self.origin = origin  # "env PIP_CONSTRAINT", "/etc/pip.conf [global]"


# pip config keys (any layer) that name files or requirements pip will read.
_CONFIG_FILE_KEYS = {"constraint": "constraint", "requirement": "requirement",
                     "build-constraint": "constraint"}
_CONFIG_REQUIREMENT_KEYS = frozenset({"editable", "requirements-from-script", "group"})


def check(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    index_url: str | None = None,
    cwd: str | None = None,
    function_body: str | None = None,
    upload_url: str | None = None,
    profile: str | None = None,
    has_fallback: bool = False,
) -> None:
    """Raise RefusedError if running ``argv`` under wrap could use a second source.

    ``environ`` is the caller's environment; the check reads it as the wrapped command
    will see it, after the scrub. ``index_url`` is the profile's index (credentials
    stripped), which direct URLs and lock files must stay under; ``profile`` its name;
    ``has_fallback``: it has ``fallback`` sources (the fence composes their pages).
    """
    from pipwrap.guard import launchers, scrub

    ctx = new_context(scrub.child_environ(environ, {}), cwd, index_url, upload_url, profile,
                      has_fallback=has_fallback)
    launchers.check_argv(argv, ctx, function_body=function_body)
    scan_files(config_files_to_scan(environ, ctx.prefixes), environ, ctx=ctx)


def scan_files(refs: Sequence[FileRef], environ: Mapping[str, str], *,
               ctx: Context | None = None, index_url: str | None = None) -> None:
    """Raise RefusedError if any file (or one it includes) adds a package source."""
    from pipwrap.guard import directref, reqfile, scrub

    if ctx is None:
        ctx = new_context(scrub.child_environ(environ, {}), None, index_url)
    for ref in refs:
        if ref.kind in ("requirement", "constraint"):
            reqfile.scan(ref.path, ref.kind, ref.origin, ctx)
        else:
            directref.check_requirement(ref.path, ref.origin, ctx)


def config_files_to_scan(environ: Mapping[str, str],
                         prefixes: Sequence[str] = ()) -> list[FileRef]:
    """Requirement/constraint files (and requirements) that pip's config layers and the
    kept PIP_*/UV_* variables name, whatever the spelling."""
    from pipwrap import pipconfig
    from pipwrap.guard import scrub

    refs: list[FileRef] = []
    for setting in pipconfig.settings(environ, site_prefixes=prefixes):
        if setting.path is None:
            continue  # variables: below, in every spelling
        if setting.key in _CONFIG_FILE_KEYS:
            refs += [FileRef(path, _CONFIG_FILE_KEYS[setting.key], setting.source)
                     for path in setting.value.split()]
        elif setting.key in _CONFIG_REQUIREMENT_KEYS:
            refs += [FileRef(value, "direct", setting.source) for value in setting.value.split()]
    for name, kind, value in scrub.file_variables(environ):
        refs += [FileRef(path, kind, f"env {name}") for path in value.split()]
    return refs


def config_sources_need_scan(environ: Mapping[str, str]) -> bool:
    """Whether every pip command must go through the Python check (files to follow)."""
    return bool(config_files_to_scan(environ))


def new_context(environ: Mapping[str, str], cwd: str | None = None,
                index_url: str | None = None, upload_url: str | None = None,
                profile: str | None = None, *, has_fallback: bool = False) -> Context:
    """A Context whose readers can follow nested commands and included files."""
    from pipwrap.guard import launchers, reqfile

    ctx = Context(environ, cwd, index_url, upload_url, profile, has_fallback=has_fallback)
    ctx.check_command = launchers.check_argv
    ctx.scan_file = reqfile.scan
    return ctx
