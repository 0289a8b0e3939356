"""The environment a wrapped command gets: the profile's index as the only source.

Setting PIP_INDEX_URL alone is not enough: pip merges ``extra-index-url`` and
``find-links`` from every config layer and the inherited environment, and picks the
highest version across all of them (dependency confusion). Environment variables are
pip's strongest layer below the command line, so each source-adding setting is overridden
here. pip ignores an *empty* value, but a single space parses as an empty list, which
clears it (measured on pip 23.2.1, 25.3 and 26.3). uv reads its own variables and treats
an empty value as unset; its index comes in a file (see ``uv_config_file``). Proxies and
certificates belong to the fence (see ``pipwrap/fence``), which the caller adds.
"""

from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pipwrap import files, paths
from pipwrap.errors import PipwrapError
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


def trusted_host_value(profile: Profile) -> str:
    if not profile.trusted_host:
        return PIP_CLEARED
    parts = urlsplit(profile.index_url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def login(profile: Profile, password: str | None) -> tuple[str, tuple[str, str] | None]:
    """(the index URL without a login, the login) for the fence, which adds it to requests.

    The login is the profile's username with its password, or the ``user:pass@`` (or a
    bare ``TOKEN@``) of the index URL itself.
    """
    clean, url_user, url_secret = split_credentials(profile.index_url)
    if profile.username is not None:
        return clean, (profile.username, password or "")
    if url_user is not None:
        return clean, (url_user, url_secret or "")
    return clean, None


def source_rules(profile: Profile) -> dict[str, object] | None:
    """The profile's ``fallback``, ``reserved``, ``cooldown``, ``cooldown-exempt`` for the
    fence, which composes its pages (None: it has none of them, and is fenced as before
    these keys existed)."""
    if not profile.has_source_rules:
        return None
    return {"fallback": list(profile.fallback), "reserved": list(profile.reserved),
            "cooldown": profile.cooldown, "cooldown_exempt": list(profile.cooldown_exempt)}


def login_source(profile: Profile) -> str | None:
    """Whose login the fence adds and where its password comes from, for a message when
    the server refuses it: the user name, the variable, the helper's program name or the
    keyring; never the secret (nor a helper's arguments, which may hold one)."""
    _clean, url_user, _secret = split_credentials(profile.index_url)
    if profile.username is None:
        return "the login in its index-url" if url_user is not None else None
    user = f"user {profile.username!r}"
    if profile.password_env:
        return f"{user} with the password from the variable {profile.password_env}"
    if profile.password_command:
        program = os.path.basename((profile.password_command.split() or [""])[0])
        return f"{user} with the password printed by its password-command {program}"
    if profile.keyring:
        return f"{user} with the password from the system keyring (pipwrap login {profile.name})"
    return f"{user} with no password source"


def build(profile: Profile, password: str | None = None) -> dict[str, str]:
    """Variables to set for one wrapped command, in a stable order (the fence's own proxy
    and CA variables are added by the caller, from the session it opened).

    The command sees the real index URL and no credential at all: the fence adds the
    profile's login to the requests it passes to the index and the upload URL.
    """
    url, found = login(profile, password)
    trusted = trusted_host_value(profile)
    uv_trusted = trusted if trusted.strip() else UV_CLEARED
    return {
        "PIP_INDEX_URL": url,
        "PIP_EXTRA_INDEX_URL": PIP_CLEARED,
        "PIP_FIND_LINKS": PIP_CLEARED,
        "PIP_TRUSTED_HOST": trusted,
        "PIP_NO_INDEX": "false",
        # No pip configuration file at all: harmless settings from the user's files are
        # passed on as variables by the caller.
        "PIP_CONFIG_FILE": os.devnull,
        # Not UV_DEFAULT_INDEX: uv reads a variable as its command-line option, and `uv add`
        # writes every command-line index into pyproject.toml ([[tool.uv.index]]), where it
        # would stay for the team and refuse every other profile. A configuration file is
        # never written back; named explicitly, it replaces the discovered ones (the user's
        # uv.toml, the project's [tool.uv] settings) as UV_NO_CONFIG does.
        "UV_CONFIG_FILE": uv_config_file(url),
        "UV_DEFAULT_INDEX": UV_CLEARED,
        "UV_INDEX_URL": UV_CLEARED,
        "UV_INDEX": UV_CLEARED,
        "UV_EXTRA_INDEX_URL": UV_CLEARED,
        "UV_FIND_LINKS": UV_CLEARED,
        "UV_INSECURE_HOST": uv_trusted,
        # uv.toml and [tool.uv] indexes are consulted before the default index (uv reads
        # UV_CONFIG_FILE all the same).
        "UV_NO_CONFIG": "1",
        # uv's own defence: never merge versions across indexes.
        "UV_INDEX_STRATEGY": "first-index",
        "PDM_PYPI_URL": url,
        "PIPWRAP_ACTIVE_PROFILE": profile.name,
        **_twine(profile, found),
        **_uv_publish(profile, found),
    }


def uv_config_file(url: str) -> str:
    """A uv.toml that makes ``url`` uv's only index, in pipwrap's private data directory.

    Named by its content, so every profile and shell has its own and none is rewritten
    under a running command; written again whenever an environment is built and it is
    missing or changed (the shell watches it: deleted, the next `wrap` resolves again and
    writes it anew; shell/state.py). The URL carries no
    login (the fence adds it); the file is the user's alone (0600 in a 0700 directory).
    """
    text = ("# Written by pipwrap for wrapped uv commands (UV_CONFIG_FILE): the profile's\n"
            "# index, given as a file because uv never copies a file's index into\n"
            "# pyproject.toml.\n"
            f"[[index]]\nurl = {json.dumps(url)}\ndefault = true\n")
    data = text.encode()
    directory = os.path.join(paths.private_dir(paths.user_data_dir()), "uv")
    path = os.path.join(directory, f"index-{hashlib.sha256(data).hexdigest()[:16]}.toml")
    try:
        paths.private_dir(directory)
        if os.stat(directory).st_mode & 0o077:
            os.chmod(directory, 0o700)
        if files.read_regular(path) == data:
            return path
    except (OSError, files.UnreadableFile):
        pass
    try:
        files.write_atomic(path, data, durable=False)
    except OSError as exc:
        raise PipwrapError(f"cannot write uv's settings to {path}: {exc.strerror}") from None
    return path


# Uploaders want a login before they send anything; this one is not a secret: the fence
# replaces the Authorization of every request to the upload URL with the profile's login
# (or, for a profile without one, removes it).
TWINE_DUMMY_PASSWORD = "pipwrap-fence-adds-the-login"
PLACEHOLDER_USERNAME = "pipwrap"


def _upload_username(profile: Profile) -> str:
    """The user name an uploader is shown: the profile's, or the URL's beside a password.
    A bare ``TOKEN@`` in the URL is the secret itself: a placeholder goes instead."""
    if profile.username is not None:
        return profile.username
    _url, user, secret = split_credentials(profile.index_url)
    return user if user is not None and secret is not None else PLACEHOLDER_USERNAME


def _twine(profile: Profile, found: tuple[str, str] | None) -> dict[str, str]:
    """twine's own variables: the upload URL, and a login it will not prompt for."""
    if not profile.upload_url:
        return {}
    # Never a prompt: TWINE_NON_INTERACTIVE makes a missing login an error, and a profile
    # without one uploads anonymously (empty, not unset: unset would make twine ask or
    # read a keyring) where the server allows it (`pipwrap serve --auth none`). With a
    # login, twine gets the user name and a placeholder the fence replaces.
    return {
        "TWINE_REPOSITORY_URL": profile.upload_url,
        "TWINE_NON_INTERACTIVE": "1",
        "TWINE_USERNAME": _upload_username(profile) if found is not None else "",
        "TWINE_PASSWORD": TWINE_DUMMY_PASSWORD if found is not None else "",
    }


def _uv_publish(profile: Profile, found: tuple[str, str] | None) -> dict[str, str]:
    """`uv publish`'s destination and a login it will not prompt for.

    Without a login uv prompts on a terminal, and with none at all it sends nothing; with
    a placeholder it uploads, and the fence puts the profile's own login on the request
    (an anonymous profile's placeholder is removed), so no secret is in the command's
    variables. The user's UV_PUBLISH_TOKEN and UV_PUBLISH_INDEX, which clap refuses
    beside these even when empty, are removed by the scrub (guard/uv_env.py).
    """
    if not profile.upload_url:
        return {}
    return {
        "UV_PUBLISH_URL": split_credentials(profile.upload_url)[0],
        "UV_PUBLISH_USERNAME": _upload_username(profile) if found is not None
        else PLACEHOLDER_USERNAME,
        "UV_PUBLISH_PASSWORD": TWINE_DUMMY_PASSWORD,
    }
