"""Parse and validate config.toml text into a :class:`~pipwrap.config.Config`.

Every problem is reported as a :class:`PipwrapError` naming the file, and the line where
it can be found, so that nothing runs on a config the user did not mean. This is the
slow half of reading the config (TOML parser, regular expressions); ``pipwrap.config``
calls it only when its snapshot does not match the file.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from pipwrap import tomlfile
from pipwrap.errors import PipwrapError
from pipwrap.profiles.model import BUILTIN_NAME, Config, Profile
from pipwrap.redact import redact
from pipwrap.sourcerules import duration_seconds, pattern_problem

PROFILE_NAME = re.compile(r"[A-Za-z0-9_-]+")


def parse(text: str, path: str) -> Config:
    data = tomlfile.loads(text, path)
    where = _Where(path, text)
    unknown = sorted(set(data) - {"default", "profiles"})
    if unknown:
        where.fail(None, unknown[0], f"unknown top-level key {unknown[0]!r} "
                   "(expected 'default' and [profiles.NAME] tables)")
    profiles_raw = data.get("profiles", {})
    if not isinstance(profiles_raw, dict):
        where.fail(None, "profiles", "'profiles' must be a table of [profiles.NAME] tables")
    profiles: dict[str, Profile] = {}
    for name, table in profiles_raw.items():
        if not PROFILE_NAME.fullmatch(name):
            where.fail(name, None, f"invalid profile name {name!r}: use letters, digits, "
                       "'-' and '_' only")
        if not isinstance(table, dict):
            where.fail(name, None, f"profile {name!r} must be a table ([profiles.{name}])")
        profiles[name] = _profile(name, table, where)
    default = data.get("default")
    if default is not None:
        if not isinstance(default, str):
            where.fail(None, "default", "'default' must be a string naming a profile")
        # The built-in profile may be the default without a table of its own: the loader
        # adds it (`pipwrap default local` after other profiles were added).
        if default not in profiles and default != BUILTIN_NAME:
            known = ", ".join(sorted(profiles)) or "(none)"
            where.fail(None, "default",
                       f"default profile {default!r} is not defined; known profiles: {known}")
    return Config(path, default, profiles)


_PROFILE_KEYS = {
    "index-url": str,
    "trusted-host": bool,
    "username": str,
    "password-env": str,
    "password-command": str,
    "password-ttl": int,
    "keyring": bool,
    "upload-url": str,
    "ca-file": str,
    "isolation": str,
    "fallback": list,
    "reserved": list,
    "cooldown": str,
    "cooldown-exempt": list,
}
ISOLATION_MODES = ("auto", "required", "off")
_TYPE_NAMES = {str: "a string", bool: "true or false", int: "a whole number of seconds",
               list: "a list of strings"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _profile(name: str, table: dict[str, Any], where: _Where) -> Profile:
    for key, value in table.items():
        if key not in _PROFILE_KEYS:
            hint = " (did you mean 'index-url'?)" if key.replace("_", "-") == "index-url" else ""
            where.fail(name, key, f"profile {name!r}: unknown key {key!r}{hint}; known keys: "
                       + ", ".join(_PROFILE_KEYS))
        expected = _PROFILE_KEYS[key]
        # bool is an int subclass: check exactly so `password-ttl = true` is refused.
        if type(value) is not expected or (isinstance(value, list) and not all(
                isinstance(item, str) for item in value)):
            where.fail(name, key, f"profile {name!r}: {key} must be {_TYPE_NAMES[expected]}")
    if "index-url" not in table:
        where.fail(name, None, f"profile {name!r} has no index-url")
    url = table["index-url"]
    problem = url_problem(url)
    if problem:
        where.fail(name, "index-url", f"profile {name!r}: index-url {problem}")
    secret_keys = [k for k in ("password-env", "password-command", "keyring") if table.get(k)]
    if len(secret_keys) > 1:
        where.fail(name, secret_keys[1], f"profile {name!r}: use only one of "
                   "password-env, password-command, keyring")
    if secret_keys and not table.get("username"):
        where.fail(name, secret_keys[0], f"profile {name!r}: {secret_keys[0]} needs a username")
    if secret_keys and urlsplit(url).username is not None:
        where.fail(name, "index-url", f"profile {name!r}: credentials are given both in "
                   f"index-url and by {secret_keys[0]}; keep only {secret_keys[0]}")
    username = table.get("username")
    if username is not None and (not username or any(c in username for c in ":@/ \t\n")):
        where.fail(name, "username", f"profile {name!r}: username must be non-empty and hold "
                   "no ':', '@', '/' or whitespace")
    env_name = table.get("password-env")
    if env_name is not None and not _ENV_NAME.fullmatch(env_name):
        where.fail(name, "password-env",
                   f"profile {name!r}: password-env must name an environment variable")
    command = table.get("password-command")
    if command is not None and not command.strip():
        where.fail(name, "password-command", f"profile {name!r}: password-command is empty")
    ttl = table.get("password-ttl", 0)
    if ttl < 0:
        where.fail(name, "password-ttl", f"profile {name!r}: password-ttl must be >= 0")
    upload = table.get("upload-url")
    if upload is not None:
        problem = url_problem(upload)
        if problem is None and urlsplit(upload).scheme not in ("http", "https"):
            problem = f"must be an http:// or https:// URL, got {upload!r}"
        if problem is None and (urlsplit(upload).username or urlsplit(upload).password):
            problem = ("must not hold a login; the profile's username and password "
                       "(password-env, password-command, keyring) are used for it")
        if problem:
            where.fail(name, "upload-url", f"profile {name!r}: upload-url {redact(problem)}")
    ca_file = table.get("ca-file")
    if ca_file is not None:
        ca_file = os.path.expanduser(ca_file)
        if not os.path.isabs(ca_file):
            where.fail(name, "ca-file", f"profile {name!r}: ca-file must be an absolute path "
                       "(or start with ~/)")
    isolation = table.get("isolation", "auto")
    if isolation not in ISOLATION_MODES:
        where.fail(name, "isolation", f"profile {name!r}: isolation must be one of "
                   f"{', '.join(repr(m) for m in ISOLATION_MODES)}, got {isolation!r}")
    fallback, reserved, cooldown, exempt = _source_rules(name, table, where)
    return Profile(
        name=name,
        index_url=url,
        shown_url=redact(url),
        trusted_host=table.get("trusted-host", False),
        username=username,
        password_env=env_name,
        password_command=command,
        password_ttl=ttl,
        keyring=table.get("keyring", False),
        upload_url=upload,
        ca_file=ca_file,
        isolation=isolation,
        fallback=fallback,
        shown_fallback=tuple(redact(u) for u in fallback),
        reserved=reserved,
        cooldown=cooldown,
        cooldown_exempt=exempt,
    )


def _source_rules(name: str, table: dict[str, Any], where: _Where,
                  ) -> tuple[tuple[str, ...], tuple[str, ...], str | None, tuple[str, ...]]:
    """``fallback``, ``reserved``, ``cooldown``, ``cooldown-exempt``, validated."""
    fallback = tuple(table.get("fallback", ()))
    index_scheme = urlsplit(table["index-url"]).scheme
    for number, url in enumerate(fallback, start=1):
        problem = url_problem(url)
        # url_problem's own scheme message offers file://, which a fallback cannot be.
        if urlsplit(url).scheme not in ("http", "https") and (
                problem is None or problem.startswith("must be an http")):
            problem = ("must be an http:// or https:// URL (the fence reads a fallback's "
                       f"pages itself), got {url!r}")
        if problem:
            where.fail(name, "fallback", f"profile {name!r}: fallback URL {number} "
                       f"{redact(problem)}")
    if len(set(fallback)) != len(fallback) or table["index-url"] in fallback:
        where.fail(name, "fallback", f"profile {name!r}: fallback names a source twice "
                   "(or the index-url itself)")
    cooldown = table.get("cooldown")
    if index_scheme == "file" and (fallback or cooldown):
        # pip and uv read a file:// index from disk: no request of theirs reaches the
        # fence, which composes the sources and applies the cooldown.
        key = "fallback" if fallback else "cooldown"
        where.fail(name, key, f"profile {name!r}: {key} needs an http:// or https:// "
                   "index-url; a file:// index is read from disk, out of the fence's sight "
                   "(serve the tree: pipwrap serve --repo DIR, or python -m http.server)")
    if cooldown is not None and duration_seconds(cooldown) is None:
        where.fail(name, "cooldown", f"profile {name!r}: cooldown must be a duration longer "
                   f"than zero such as \"7 days\", \"12 hours\", \"P7D\" or \"PT12H\", "
                   f"got {cooldown!r}")
    patterns: dict[str, tuple[str, ...]] = {}
    for key in ("reserved", "cooldown-exempt"):
        patterns[key] = tuple(table.get(key, ()))
        for pattern in patterns[key]:
            problem = pattern_problem(pattern)
            if problem:
                where.fail(name, key, f"profile {name!r}: {key} pattern {problem}")
    if patterns["cooldown-exempt"] and cooldown is None:
        where.fail(name, "cooldown-exempt", f"profile {name!r}: cooldown-exempt without a "
                   "cooldown exempts nothing; add cooldown = \"7 days\" (or remove it)")
    return fallback, patterns["reserved"], cooldown, patterns["cooldown-exempt"]


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an index URL, or None if it can."""
    if not url:
        return "is empty"
    if any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return "must not contain spaces or control characters"
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            return f"has an invalid port: {url!r}"
        if not parts.hostname:
            return f"has no host: {url!r}"
        return None
    if parts.scheme == "file":
        if not parts.path or parts.path == "/":
            return f"has no path: {url!r}"
        return None
    return f"must be an http://, https:// or file:// URL, got {url!r}"


def ca_file_problem(path: str) -> str | None:
    """Why the file at ``path`` cannot serve as a profile's ``ca-file``, or None.

    Read the way the fence reads it (``load_verify_locations``), so a file accepted here
    is one the fence can use.
    """
    import ssl

    if not os.path.lexists(path):
        return "no such file"
    if not os.path.isfile(path):
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError:
        return ("holds no PEM certificate (a CA certificate file starts with "
                "-----BEGIN CERTIFICATE-----)")
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def check_profile(name: str, table: dict[str, Any], origin: str) -> Profile:
    """Validate one profile that is not (yet) in a file, e.g. from `pipwrap add` arguments.

    Errors start with ``origin`` instead of a file and line: citing a line of config.toml
    for a value the user typed on the command line would send them to the wrong place.
    """
    if not PROFILE_NAME.fullmatch(name):
        raise PipwrapError(f"{origin}: invalid profile name {name!r}: use letters, digits, "
                           "'-' and '_' only")
    return _profile(name, table, _Where(origin, None))


class _Where:
    """Turns a validation failure into an error naming file and (when found) line."""

    def __init__(self, path: str, text: str | None) -> None:
        self.path = path
        self.text = text

    def fail(self, profile: str | None, key: str | None, message: str) -> Any:
        line = locate_key(self.text, profile, key) if self.text is not None else None
        prefix = f"{self.path}:{line}" if line else str(self.path)
        raise PipwrapError(f"{prefix}: {message}")


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.\s"'-]+?)\s*=""")


def _unquote_dotted(key: str) -> list[str]:
    parts = re.findall(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)""", key)
    return [a or b or c for a, b, c in parts]


def locate_key(text: str, profile: str | None, key: str | None) -> int | None:
    """Best-effort line number of ``key`` in ``[profiles.PROFILE]`` (or top level).

    TOML parsers give positions only for syntax errors; for validation errors this scan
    points the user at the right line in the common layouts, and returns None otherwise.
    """
    table: list[str] = []
    want_table = ["profiles", profile] if profile else []
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _unquote_dotted(header.group(1))
            if key is None and table == want_table:
                return number
            continue
        match = _KEY.match(line)
        if not match or key is None:
            continue
        path = table + _unquote_dotted(match.group(1))
        if path == [*want_table, key]:
            return number
    return None
