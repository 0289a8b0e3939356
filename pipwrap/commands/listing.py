"""The reading commands: list, show, current (and profile names for completion).

People run these often and scripts poll them, so this module and what it imports stay
within ``os`` and ``sys``; ``json`` is imported only for ``--json``.
"""

from __future__ import annotations

import sys

from pipwrap.errors import PipwrapError
from pipwrap.profiles import config as config_mod
from pipwrap.profiles.resolve import resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from pipwrap.profiles.model import Config, Profile


def _print_json(data: object) -> None:
    import json

    print(json.dumps(data, indent=2))


def profile_data(profile: Profile) -> dict[str, object]:
    """What may be shown of a profile: the URL redacted, a password command only as set.

    Keys are the config's keys in snake_case, as in every pipwrap JSON output (so that
    ``jq .index_url`` works; ``.index-url`` would be a subtraction to jq).
    """
    data: dict[str, object] = {"name": profile.name, "index_url": profile.shown_url}
    if profile.trusted_host:
        data["trusted_host"] = True
    if profile.username:
        data["username"] = profile.username
    if profile.password_env:
        data["password_env"] = profile.password_env
    if profile.password_command:
        data["password_command"] = "(set)"
    if profile.password_ttl:
        data["password_ttl"] = profile.password_ttl
    if profile.keyring:
        data["keyring"] = True
    if profile.upload_url:
        data["upload_url"] = profile.upload_url
    if profile.ca_file:
        data["ca_file"] = profile.ca_file
    if profile.fallback:
        data["fallback"] = list(profile.shown_fallback)
    if profile.reserved:
        data["reserved"] = list(profile.reserved)
    if profile.cooldown:
        data["cooldown"] = profile.cooldown
    if profile.cooldown_exempt:
        data["cooldown_exempt"] = list(profile.cooldown_exempt)
    return data


def _active_name(config: Config) -> str | None:
    """The profile wrap would use here, or None when none is chosen (or the choice fails)."""
    try:
        return resolve(config=config).profile.name
    except PipwrapError:
        return None


def list_profiles(*, as_json: bool = False) -> int:
    config = config_mod.load()
    active = _active_name(config)
    rows = []
    for name in sorted(config.profiles):
        data = profile_data(config.profiles[name])
        data["default"] = name == config.default
        data["active"] = name == active
        if name in config.builtin:
            data["builtin"] = True
        rows.append(data)
    if as_json:
        _print_json({"config": config.path, "profiles": rows})
        return 0
    if not rows:
        print(f"no profiles in {config.path}; add one with: pipwrap add NAME URL")
        return 0
    width = max(len(str(row["name"])) for row in rows)
    lines = []
    for row in rows:
        marks = (">" if row["active"] else " ") + ("*" if row["default"] else " ")
        builtin = "  (built in)" if row.get("builtin") else ""
        lines.append(f"{marks} {row['name']!s:<{width}}  {row['index_url']}{builtin}")
    if sys.stdout.isatty():
        # For a person only: scripts read one profile per line, piped output is unchanged.
        lines.append("(> = the profile `wrap` uses here, * = the default; "
                     "pipwrap current says why)")
    print("\n".join(lines))
    return 0


def show(name: str | None, *, quiet: bool = False, as_json: bool = False) -> int:
    profile = config_mod.load().profile(name) if name else resolve().profile
    if quiet:
        return 0
    data = profile_data(profile)
    if as_json:
        _print_json(data)
    else:
        for key, value in data.items():
            shown = str(value).lower() if isinstance(value, bool) else \
                ", ".join(value) if isinstance(value, list) else value
            print(f"{key.replace('_', '-')}: {shown}")
    return 0


def current(*, as_json: bool = False) -> int:
    resolution = resolve()
    data = {
        "profile": resolution.profile.name,
        "index_url": resolution.profile.shown_url,
        "reason": resolution.reason,
        "config": resolution.config.path,
    }
    if as_json:
        _print_json(data)
    else:
        print(f"{data['profile']}  {data['index_url']}\n  why: {data['reason']}")
    return 0


def names() -> int:
    profiles = sorted(config_mod.load().profiles)
    if profiles:
        sys.stdout.write("\n".join(profiles) + "\n")
    return 0


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from pipwrap.commands.common import add_json

    if name == "list":
        parser.description = (
            "List profiles with their (redacted) index URL. '*' marks the config's default, "
            "'>' the profile the next `wrap` uses here.")
    elif name == "show":
        parser.add_argument("name", nargs="?",
                            help="profile (default: the one `wrap` uses here)")
        parser.add_argument("--quiet", "-q", action="store_true",
                            help="print nothing; exit 0 if the profile exists and is valid")
    elif name == "current":
        parser.description = (
            "Which profile the next `wrap` uses in this shell and directory: "
            "PIPWRAP_PROFILE, then `pipwrap use`, then an allowed .pipwrap.toml, then the "
            "config's default.")
    if name != "_names":
        add_json(parser)


def run(args: argparse.Namespace) -> int:
    if args.command == "list":
        return list_profiles(as_json=bool(args.json))
    if args.command == "show":
        return show(args.name, quiet=bool(args.quiet), as_json=bool(args.json))
    if args.command == "current":
        return current(as_json=bool(args.json))
    return names()
