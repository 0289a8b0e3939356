"""``pipwrap export PROFILE --to uv|pip-conf|requirements|env``: a profile's index in the
form a project or CI keeps, so that teammates without pipwrap install from the same index.

Never a credential: at most the username, with a comment saying where the password comes
from. A ``user:pass@`` or ``TOKEN@`` in the profile's URL and a secret query value are
left out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from urllib.parse import urlsplit, urlunsplit

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pipwrap.profiles.model import Profile

FORMATS = ("uv", "pip-conf", "requirements", "env")


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = """\
Write PROFILE's index where a project or CI keeps its settings, for people who do not
use pipwrap. Credentials are never written (the username at most, with a comment saying
where the password comes from).

  --to uv            a [[tool.uv.index]] table (default = true) for pyproject.toml
                     (in uv.toml, drop the "tool.uv." prefix)
  --to pip-conf      a [global] section for pip.conf / pip.ini
  --to requirements  an --index-url header for requirements files
  --to env           a CI env file (NAME=value): pip's and uv's variables
"""
    parser.add_argument("name", metavar="PROFILE")
    parser.add_argument("--to", choices=FORMATS, required=True, metavar="FORMAT",
                        help="uv, pip-conf, requirements or env")
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="write FILE instead of standard output (refused if it exists)")


def run(args: argparse.Namespace) -> int:
    from pipwrap.profiles import config as config_mod

    profile = config_mod.load().profile(args.name)
    text = render(args.to, profile)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise PipwrapError(f"export: {args.output} exists; pipwrap does not edit it: "
                           "print to standard output and paste the part you need") from None
    except OSError as exc:
        raise PipwrapError(f"export: cannot write {args.output}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {args.to} settings for {profile.name!r} to {args.output}", file=sys.stderr)
    return 0


def public_url(url: str) -> tuple[str, str | None]:
    """(``url`` without any credential or secret query value, the username it held)."""
    from pipwrap.redact import redact

    parts = urlsplit(url)
    user = parts.username if parts.password is not None else None
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(pair for pair in parts.query.split("&")
                     if pair and redact(f"x://h/?{pair}") == f"x://h/?{pair}")
    return urlunsplit(parts._replace(netloc=netloc, query=query)), user


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def render(fmt: str, p: Profile) -> str:
    url, url_user = public_url(p.index_url)
    user = p.username or url_user
    env_name = re.sub(r"[^A-Za-z0-9]", "_", p.name).upper()
    trusted = _host(url) if p.trusted_host else None
    head = f"pipwrap export {p.name} --to {fmt}"
    if fmt == "uv":
        lines = [f"# {head}", "[[tool.uv.index]]", f"name = {_toml(p.name)}",
                 f"url = {_toml(url)}", "default = true"]
        if p.fallback:
            # uv's own first-index strategy is the same rule per project: the indexes in
            # order, the default one last.
            lines.pop()
            for number, fallback in enumerate(p.fallback, start=1):
                lines += ["", "[[tool.uv.index]]", f"name = {_toml(f'{p.name}-fallback-{number}')}",
                          f"url = {_toml(public_url(fallback)[0])}"]
            lines.append("default = true")
        lines[1:1] = _rules_comments(p, "uv")
        if user:
            lines.insert(1, f"# login: uv reads UV_INDEX_{env_name}_USERNAME={user} and "
                            f"UV_INDEX_{env_name}_PASSWORD from the environment (or "
                            "`uv auth login`, a keyring, ~/.netrc); the password is not here")
        if trusted:
            lines.insert(1, f"# plain http off loopback: add allow-insecure-host = "
                            f"[{_toml(trusted)}] under [tool.uv]")
        return "\n".join(lines) + "\n"
    if fmt == "pip-conf":
        shown = _with_user(url, user)
        lines = [f"# {head}", *_rules_comments(p, "pip"), "[global]", f"index-url = {shown}"]
        if trusted:
            lines.append(f"trusted-host = {trusted}")
        if user:
            lines.insert(1, f"# login: pip asks for {user}'s password, or reads it from "
                            "~/.netrc or a keyring (pip install keyring); it is not here")
        return "\n".join(lines) + "\n"
    if fmt == "requirements":
        lines = [f"# {head}", *_rules_comments(p, "pip"),
                 f"--index-url {_with_user(url, user)}"]
        if trusted:
            lines.append(f"--trusted-host {trusted}")
        if user:
            lines.insert(1, f"# login: pip asks for {user}'s password, or reads it from "
                            "~/.netrc or a keyring; it is not here")
        return "\n".join(lines) + "\n"
    lines = [f"# {head}: NAME=value lines for a CI env file (docker --env-file, $GITHUB_ENV)",
             f"PIP_INDEX_URL={url}", f"UV_DEFAULT_INDEX={url}",
             "UV_INDEX_STRATEGY=first-index", f"PDM_PYPI_URL={url}"]
    lines[1:1] = _rules_comments(p, "env")
    if trusted:
        lines += [f"PIP_TRUSTED_HOST={trusted}", f"UV_INSECURE_HOST={trusted}"]
    if user:
        lines.insert(1, f"# login: keep {user}'s password in the CI's secret store and "
                        f"give it as a netrc (machine {urlsplit(url).hostname} login {user} "
                        "password ...) through NETRC; it is not here")
    return "\n".join(lines) + "\n"


def _rules_comments(p: Profile, form: str) -> list[str]:
    """The profile's source rules, said as comments where the form cannot hold them: only
    `wrap` enforces them for every installer."""
    lines = []
    if p.fallback and form != "uv":
        shown = ", ".join(public_url(u)[0] for u in p.fallback)
        lines.append(f"# fallback {shown} not written: pip's extra-index-url takes the "
                     "highest version from any index (dependency confusion); install "
                     "through `wrap` or uv, which take a project from the first index only")
    if p.reserved:
        where = ("pin them with [tool.uv.sources] NAME = { index = \"" + p.name + "\" }"
                 if form == "uv" else "no pip setting says so")
        lines.append(f"# reserved {', '.join(p.reserved)}: never from a fallback; {where}")
    if p.cooldown:
        if form == "uv":
            how = f'exclude-newer = "{p.cooldown}" under [tool.uv]'
            if p.cooldown_exempt:
                how += f" and exclude-newer-package for {', '.join(p.cooldown_exempt)}"
        else:
            from pipwrap.sourcerules import duration_seconds, iso_duration

            iso = iso_duration(duration_seconds(p.cooldown) or 0)
            how = f"pip >= 26.3 takes --uploaded-prior-to {iso} (no exemptions)"
        lines.append(f"# cooldown {p.cooldown}: {how}")
    return lines


def _with_user(url: str, user: str | None) -> str:
    if not user:
        return url
    from urllib.parse import quote

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}@{parts.netloc}"))
