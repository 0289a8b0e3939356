"""Profile commands: list, show, current (reading) and add, remove, rename, default (editing)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from pipwrap.errors import PipwrapError
from pipwrap.redact import redact

_Adder = Callable[[argparse.ArgumentParser], None]


def add_parsers(sub: Any, add_profile: _Adder, add_json: _Adder) -> None:
    listing = sub.add_parser(
        "list", help="list profiles",
        description="List profiles with their (redacted) index URL. '*' marks the config's "
        "default, '>' the profile the next `wrap` uses here.",
    )
    add_json(listing)

    show = sub.add_parser("show", help="show one profile")
    show.add_argument("name", nargs="?", help="profile (default: the one `wrap` uses here)")
    show.add_argument("--quiet", "-q", action="store_true",
                      help="print nothing; exit 0 if the profile exists and is valid")
    add_json(show)

    current = sub.add_parser(
        "current", help="which profile the next `wrap` uses here, and why",
        description="Which profile the next `wrap` uses in this shell and directory: "
        "PIPWRAP_PROFILE, then `pipwrap use`, then an allowed .pipwrap.toml, then the "
        "config's default.",
    )
    add_json(current)


def _profile_data(profile: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": profile.name, "index-url": redact(profile.index_url)}
    if profile.trusted_host:
        data["trusted-host"] = True
    if profile.username:
        data["username"] = profile.username
    for key in ("password_env", "password_command"):
        value = getattr(profile, key)
        if value:
            data[key.replace("_", "-")] = value if key == "password_env" else "(set)"
    if profile.password_ttl:
        data["password-ttl"] = profile.password_ttl
    if profile.keyring:
        data["keyring"] = True
    return data


def _current_or_none() -> tuple[Any, str | None, str | None]:
    """(config, name wrap would use, reason), tolerating 'no profile chosen'."""
    from pipwrap import config as config_mod
    from pipwrap.resolve import resolve

    cfg = config_mod.load()
    try:
        resolution = resolve()
    except PipwrapError:
        return cfg, None, None
    return cfg, resolution.profile.name, resolution.reason


def cmd_list(args: argparse.Namespace) -> int:
    cfg, active, _ = _current_or_none()
    rows = []
    for name in sorted(cfg.profiles):
        data = _profile_data(cfg.profiles[name])
        data["default"] = name == cfg.default
        data["active"] = name == active
        rows.append(data)
    if args.json:
        print(json.dumps({"config": str(cfg.path), "profiles": rows}, indent=2))
        return 0
    if not rows:
        print(f"no profiles in {cfg.path}; add one with: pipwrap add NAME URL")
        return 0
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        marks = (">" if row["active"] else " ") + ("*" if row["default"] else " ")
        print(f"{marks} {row['name']:<{width}}  {row['index-url']}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from pipwrap import config as config_mod
    from pipwrap.resolve import resolve

    if args.name:
        profile = config_mod.load().profile(args.name)
    else:
        profile = resolve().profile
    if args.quiet:
        return 0
    data = _profile_data(profile)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key}: {str(value).lower() if isinstance(value, bool) else value}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    from pipwrap.resolve import resolve

    resolution = resolve()
    data = {
        "profile": resolution.profile.name,
        "index-url": redact(resolution.profile.index_url),
        "reason": resolution.reason,
        "config": str(resolution.config.path),
    }
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"{data['profile']}  {data['index-url']}\n  why: {data['reason']}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list, "show": cmd_show, "current": cmd_current,
}


def dispatch(args: argparse.Namespace) -> int:
    handler = COMMANDS.get(args.command)
    if handler is None:  # pragma: no cover - argparse only offers known commands
        raise PipwrapError(f"unknown command {args.command!r}")
    return handler(args)

