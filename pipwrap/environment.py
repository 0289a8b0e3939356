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

from urllib.parse import quote, urlsplit, urlunsplit

from pipwrap.config import Profile

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


def trusted_host_value(profile: Profile) -> str:
    if not profile.trusted_host:
        return PIP_CLEARED
    parts = urlsplit(profile.index_url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def build(profile: Profile, password: str | None = None) -> dict[str, str]:
    """Variables to set for one wrapped command, in a stable order."""
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
    }
