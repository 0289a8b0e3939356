"""The environment a wrapped command gets: the profile's index as the only source.

Setting PIP_INDEX_URL alone is not enough: pip merges ``extra-index-url`` and
``find-links`` from every config layer and the inherited environment, and picks the
highest version across all of them (dependency confusion). Environment variables are
pip's strongest layer below the command line, so each source-adding setting is overridden
here. pip ignores an *empty* value, but a single space parses as an empty list, which
clears it (measured on pip 23.2.1, 25.3 and 26.3). uv reads its own variables and treats
an empty value as unset. Unrelated settings (timeouts, certificates, proxies) are left
alone on purpose.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pipwrap.profiles.model import Profile

# pip: parsed with str.split(), so " " becomes [] and overrides every config layer.
PIP_CLEARED = " "
# uv/clap: an empty value counts as not set.
UV_CLEARED = ""

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    if username is None:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    userinfo = quote(username, safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc}"))


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(the URL without ``user:pass@``, user, password), both unquoted."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None, None
    user, colon, secret = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=host))
    return clean, unquote(user), unquote(secret) if colon else None


def _netrc_safe(*words: str) -> bool:
    # pip (Python's netrc) and uv (Rust's netrc) agree only on plain words.
    return all(w and not any(c.isspace() or c in "\"#'" for c in w) for w in words)


def write_netrc(profile_name: str, url: str, user: str, secret: str) -> str:
    """Write a private netrc holding the profile's login; return its path.

    pip (through requests), uv and pdm all read ``$NETRC``. With the login there, the
    index URL a wrapped command sees carries no secret: nothing in argv, in a shell
    trace, in the shell's cached variables, or in a requirements file pip-compile writes.
    """
    from pipwrap import paths

    directory = paths.private_dir(os.path.join(paths.private_dir(paths.user_cache_dir()),
                                               "netrc"))
    host = urlsplit(url).hostname or ""
    path = os.path.join(directory, profile_name)
    text = f"machine {host}\nlogin {user}\npassword {secret}\n"
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def trusted_host_value(profile: Profile) -> str:
    if not profile.trusted_host:
        return PIP_CLEARED
    parts = urlsplit(profile.index_url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def build(profile: Profile, password: str | None = None) -> dict[str, str]:
    """Variables to set for one wrapped command, in a stable order.

    A login goes into a private netrc file (see :func:`write_netrc`), not into the URL,
    unless it cannot be written there safely (a token as the user name alone, or
    characters netrc readers disagree on): then it stays in the URL, as before.
    """
    clean, url_user, url_secret = split_credentials(profile.index_url)
    user = profile.username if profile.username is not None else url_user
    secret = password if profile.username is not None else url_secret
    netrc: str | None = None
    if user is not None and secret is not None and _netrc_safe(user, secret):
        netrc = write_netrc(profile.name, clean, user, secret)
        url = clean
    else:
        url = with_credentials(profile.index_url, profile.username, password)
    trusted = trusted_host_value(profile)
    uv_trusted = trusted if trusted.strip() else UV_CLEARED
    return {
        "PIP_INDEX_URL": url,
        "PIP_EXTRA_INDEX_URL": PIP_CLEARED,
        "PIP_FIND_LINKS": PIP_CLEARED,
        "PIP_TRUSTED_HOST": trusted,
        "PIP_NO_INDEX": "false",
        "UV_DEFAULT_INDEX": url,
        "UV_INDEX_URL": UV_CLEARED,
        "UV_INDEX": UV_CLEARED,
        "UV_EXTRA_INDEX_URL": UV_CLEARED,
        "UV_FIND_LINKS": UV_CLEARED,
        "UV_INSECURE_HOST": uv_trusted,
        # uv.toml and [tool.uv] indexes are consulted before the default index.
        "UV_NO_CONFIG": "1",
        # uv's own defence: never merge versions across indexes.
        "UV_INDEX_STRATEGY": "first-index",
        "PDM_PYPI_URL": url,
        "PIPWRAP_ACTIVE_PROFILE": profile.name,
        **({"NETRC": netrc} if netrc is not None else {}),
        **_twine(profile, user, secret),
    }


def _twine(profile: Profile, user: str | None, secret: str | None) -> dict[str, str]:
    """twine's own variables: the upload URL, and the profile's login for it.

    twine takes a login only from its options, its variables, a keyring or ~/.pypirc
    (not from netrc), so the password is handed to it in TWINE_PASSWORD.
    """
    if not profile.upload_url:
        return {}
    # Never a prompt: TWINE_NON_INTERACTIVE makes a missing login an error, and a profile
    # without one uploads anonymously (empty, not unset: unset would make twine ask or
    # read a keyring) where the server allows it (`pipwrap serve --auth none`).
    return {
        "TWINE_REPOSITORY_URL": profile.upload_url,
        "TWINE_NON_INTERACTIVE": "1",
        "TWINE_USERNAME": user if user is not None else "",
        "TWINE_PASSWORD": secret if secret is not None else "",
    }


def additions(profile: Profile, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables a command wrapped with ``profile`` gets, its secret read now."""
    from pipwrap.profiles.credentials import password

    return build(profile, password(profile, environ).value)
