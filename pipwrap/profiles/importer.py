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
    notes: list[str] = field(default_factory=list)

    def table(self) -> dict[str, str]:
        table = {"index-url": self.index_url}
        if self.username is not None:
            table["username"] = self.username
        if self.password_env is not None:
            table["password-env"] = self.password_env
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


def _name_for(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "file":
        segments = [s for s in parts.path.split("/") if s and s != "simple"]
        base = f"file-{segments[-1]}" if segments else "file"
    else:
        host = (parts.hostname or "index").lower()
        if host in ("127.0.0.1", "localhost", "::1"):
            base = "local"
        else:
            labels = host.split(".")
            useful = [label for label in labels[:-1] if label not in _GENERIC_LABELS]
            base = useful[0] if useful else host.replace(".", "-")
    return re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-") or "index"


def _unique(base: str, taken: set[str]) -> str:
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    taken.add(name)
    return name


def plan(environ: Mapping[str, str], existing: Mapping[str, str]) -> tuple[list[Planned],
                                                                           list[str]]:
    """What to add, and notes about what was skipped. ``existing``: name -> index URL."""
    known = {_without_credentials(url)[0]: name for name, url in existing.items()}
    taken = set(existing)
    planned: list[Planned] = []
    skipped: list[str] = []
    for url, source in found_urls(environ):
        clean, user, has_password, dropped = _without_credentials(url)
        if clean in known:
            skipped.append(f"{redact(url)} ({source}) is already profile {known[clean]!r}")
            continue
        from pipwrap.profiles.schema import url_problem

        problem = url_problem(clean)
        if problem:
            skipped.append(f"{redact(url)} ({source}): not usable as an index: {problem}")
            continue
        item = Planned(_unique(_name_for(clean), taken), clean, source)
        known[clean] = item.name
        if user is not None and has_password:
            item.username = user
            item.password_env = "PIPWRAP_" + re.sub(r"\W", "_", item.name).upper() + "_PASSWORD"
            host = urlsplit(clean).hostname
            item.notes.append(
                f"the password in {source} was not copied: export {item.password_env}=... "
                f"before wrap, or store it with `keyring set {host} {user}` and replace "
                "password-env with keyring = true")
        elif user is not None:
            item.notes.append(
                f"the URL in {source} carries a token as its user name, which was not copied: "
                "add username and password-env (or password-command) to this profile by hand")
        if dropped:
            item.notes.append(f"a secret in the URL's query ({source}) was not copied")
        planned.append(item)
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
