"""``pipwrap login PROFILE``: store a profile's password in the system keyring.

As ``npm login`` and ``uv auth login`` do, the password is asked once (never echoed) and
kept by the keyring, so that no ``keyring`` command needs to be on PATH (a pipx or
``uv tool`` install does not put one there).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipwrap.errors import PipwrapError


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.description = (
        "Ask for PROFILE's password (not echoed) and store it in the system keyring, where "
        "a profile with keyring = true reads it. The profile needs a username.")
    parser.add_argument("name", metavar="PROFILE")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input (for scripts and CI)")


def run(args: argparse.Namespace) -> int:
    from pipwrap.profiles import config as config_mod
    from pipwrap.profiles import credentials

    profile = config_mod.load().profile(args.name)
    if not profile.keyring:
        raise PipwrapError(
            f"login: profile {profile.name!r} does not read its password from the keyring; "
            f"make it do so with: pipwrap add --force {profile.name} URL --username USER "
            "--keyring")
    if not profile.username:  # pragma: no cover - the schema requires it with keyring
        raise PipwrapError(f"login: profile {profile.name!r} has no username")
    keyring: Any = credentials.keyring_module(profile)
    service = credentials.keyring_service(profile)
    secret = _read_secret(profile.username, service, from_stdin=args.password_stdin)
    try:
        keyring.set_password(service, profile.username, secret)
    except Exception as exc:  # any backend's failure: locked, refused, D-Bus gone
        if type(exc).__name__ == "NoKeyringError":
            raise PipwrapError(f"login: {credentials.no_backend_message(profile)}") from None
        raise PipwrapError(f"login: the keyring refused to store the password "
                           f"({type(exc).__name__})") from None
    print(f"stored the password for {profile.username} at {service} in the keyring "
          f"({type(keyring.get_keyring()).__name__}); profile {profile.name!r} reads it from "
          "there")
    return 0


def _read_secret(user: str, service: str, *, from_stdin: bool) -> str:
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise PipwrapError("login: standard input is not a terminal; pipe the password "
                               "in with --password-stdin")
        import getpass

        try:
            secret = getpass.getpass(f"password for {user} at {service}: ")
        except EOFError:
            secret = ""
    if not secret:
        raise PipwrapError("login: no password given; nothing stored")
    return secret
