"""`pipwrap import`: profiles from the index settings pip already has.

Credentials never travel from pip's files into config.toml: a URL with ``user:pass@``
becomes a profile with ``username`` and ``password-env``, and the user is told which
variable to set (or how to use the keyring); a bare token or a secret query value is left
out with a note. That way importing cannot turn a private pip.conf into a readable secret.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pipwrap.errors import PipwrapError
from pipwrap.redact import redact

_KEYS = ("index-url", "extra-index-url")
_GENERIC_LABELS = {
    "www", "pypi", "pkgs", "packages", "package", "repo", "repos", "repository", "simple",
    "python", "pip", "artifactory", "nexus", "registry", "index",
}


@dataclass
class Planned:
    name: str
    index_url: str  # no credential in it
    source: str
    username: str | None = None
    password_env: str | None = None
    trusted_host: bool = False
    notes: list[str] = field(default_factory=list)

    def table(self) -> dict[str, str | bool]:
        table: dict[str, str | bool] = {"index-url": self.index_url}
        if self.username is not None:
            table["username"] = self.username
        if self.password_env is not None:
            table["password-env"] = self.password_env
        if self.trusted_host:
            table["trusted-host"] = True
        return table


def found_urls(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(url, where) for every index pip would use, the one in force for index-url first."""
    from pipwrap import pipconfig

    index: list[tuple[str, str]] = []
    extra: list[tuple[str, str]] = []
    for setting in pipconfig.settings(environ):
        if setting.key not in _KEYS:
            continue
        urls = [(url, setting.source) for url in setting.value.split()]
        if setting.key == "index-url":
            index = urls[-1:] or index  # a later layer replaces the index
        else:
            extra += urls
    seen: set[str] = set()
    ordered = []
    for url, source in index + extra:
        if url not in seen:
            seen.add(url)
            ordered.append((url, source))
    return ordered


def found_other(environ: Mapping[str, str]) -> tuple[set[str], list[tuple[str, str]]]:
    """pip's trusted hosts (``host`` or ``host:port``) and its find-links (value, where)."""
    from pipwrap import pipconfig

    trusted: set[str] = set()
    links: list[tuple[str, str]] = []
    for setting in pipconfig.settings(environ):
        if setting.key == "trusted-host":
            trusted.update(setting.value.split())
        elif setting.key == "find-links":
            links += [(value, setting.source) for value in setting.value.split()]
    return trusted, links


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _name_for(url: str) -> str:
    """A readable profile name: a word of the host (never an address's last number)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        segments = [s for s in parts.path.split("/") if s and s != "simple"]
        base = f"file-{segments[-1]}" if segments else "file"
    else:
        host = (parts.hostname or "index").lower()
        if host in ("127.0.0.1", "localhost", "::1"):
            base = "local"
        elif _is_address(host):
            base = "index"
        else:
            labels = host.split(".")
            useful = [label for label in labels[:-1] if label not in _GENERIC_LABELS
                      and re.search("[a-z]", label)]
            base = useful[0] if useful else host.replace(".", "-")
    return re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-") or "index"


def _unique(base: str, taken: set[str]) -> str:
    # A bare "index" is numbered from the start (index-1, index-2): it says nothing alone.
    name, number = (base, 2) if base != "index" else ("index-1", 2)
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    taken.add(name)
    return name


def same_index(url: str) -> str:
    """``url`` reduced to what makes it a different index: scheme and host in lower case,
    no default port, one trailing slash (``https://PyPI.org:443/simple`` is
    ``https://pypi.org/simple/``)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, default) else f"{host}:{port}"
    path = parts.path.rstrip("/") + "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, parts.query, ""))


def _trusted(url: str, trusted: set[str]) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    return host in trusted or (port is not None and f"{host}:{port}" in trusted)


def plan(environ: Mapping[str, str], existing: Mapping[str, str]) -> tuple[list[Planned],
                                                                           list[str]]:
    """What to add, and notes about what was skipped. ``existing``: name -> index URL."""
    known = {same_index(_without_credentials(url)[0]): name for name, url in existing.items()}
    taken = set(existing)
    planned: list[Planned] = []
    skipped: list[str] = []
    trusted, links = found_other(environ)
    for url, source in found_urls(environ):
        clean, user, has_password, dropped = _without_credentials(url)
        if same_index(clean) in known:
            skipped.append(f"{redact(url)} ({source}) is already profile "
                           f"{known[same_index(clean)]!r}")
            continue
        from pipwrap.profiles.schema import url_problem

        problem = url_problem(clean)
        if problem:
            skipped.append(f"{redact(url)} ({source}): not usable as an index: {problem}")
            continue
        item = Planned(_unique(_name_for(clean), taken), clean, source)
        known[same_index(clean)] = item.name
        if _trusted(clean, trusted):
            item.trusted_host = True
            item.notes.append(f"pip trusts {urlsplit(clean).hostname} (trusted-host): kept "
                              "as trusted-host = true, which also turns off TLS checks for it")
        if user is not None and has_password:
            item.username = user
            item.password_env = "PIPWRAP_" + re.sub(r"\W", "_", item.name).upper() + "_PASSWORD"
            item.notes.append(
                f"the password in {source} was not copied: export {item.password_env}=... "
                "before wrap, or keep it in the keyring: pipwrap add --force "
                f"{item.name} {clean} --username {user} --keyring, then pipwrap login "
                f"{item.name}")
        elif user is not None:
            item.notes.append(
                f"the URL in {source} carries a token as its user name, which was not copied: "
                "add username and password-env (or password-command) to this profile by hand")
        if dropped:
            item.notes.append(f"a secret in the URL's query ({source}) was not copied")
        planned.append(item)
    for value, source in links:
        skipped.append(
            f"find-links {redact(value)} ({source}): a directory or page of files is not an "
            "index, and wrap clears find-links so the profile's index stays the only source; "
            "to install those files through pipwrap, host them: pipwrap repo add FILES..., "
            "then pipwrap serve")
    return planned, skipped


def _without_credentials(url: str) -> tuple[str, str | None, bool, bool]:
    """(url without userinfo or secret query, username, had a password, dropped a query)."""
    parts = urlsplit(url)
    user = unquote(parts.username) if parts.username is not None else None
    has_password = parts.password is not None
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    dropped = bool(query) and redact(f"x://h/?{query}") != f"x://h/?{query}"
    if dropped:
        query = ""
    return urlunsplit(parts._replace(netloc=netloc, query=query)), user, has_password, dropped


def main(*, dry_run: bool, as_json: bool) -> int:
    from pipwrap.profiles import config as config_mod

    path = config_mod.config_path()
    try:
        existing = {n: p.index_url for n, p in config_mod.load(path).profiles.items()}
    except PipwrapError:
        if Path(path).exists():
            raise
        existing = {}
    planned, skipped = plan(os.environ, existing)
    default = None
    if not dry_run and planned:
        default = _write(planned)
    if as_json:
        print(json.dumps({"config": path, "dry_run": dry_run,
                          "added": [asdict(p) for p in planned], "skipped": skipped}, indent=2))
        return 0
    if not planned and not skipped:
        print("pip has no index-url or extra-index-url set (in any pip.conf or PIP_* "
              "variable): nothing to import")
        return 0
    verb = "would add" if dry_run else "added"
    for item in planned:
        print(f"{verb} {item.name!r}: {item.index_url}   (from {item.source})")
        for note in item.notes:
            print(f"  note: {note}")
    for line in skipped:
        print(f"skipped {line}")
    if default is not None:
        print(f"default profile: {default} (the first profile in this config)")
    if dry_run and planned:
        print(f"\nto {path}:\n")
        for item in planned:
            print(f"[profiles.{item.name}]")
            for key, value in item.table().items():
                print(f"{key} = {json.dumps(value)}")
            print()
    return 0


def _write(planned: list[Planned]) -> str | None:
    """Add the profiles; the name made the default, if the config had none."""
    from pipwrap.profiles import editing

    made_default: list[str] = []

    def mutate(document: Any) -> None:
        import tomlkit

        profiles = editing.profiles_table(document)
        first = len(profiles) == 0
        for item in planned:
            table = tomlkit.table()
            for key, value in item.table().items():
                table[key] = value
            profiles[item.name] = table
        if first and "default" not in document:
            # The index pip itself used (listed first) stays the one used by default.
            document["default"] = planned[0].name
            made_default.append(planned[0].name)

    editing.edit(mutate)
    return made_default[-1] if made_default else None
