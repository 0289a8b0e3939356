"""Fetch a profile's password from where the user keeps it, never from config text.

Sources: an environment variable (``password-env``), a helper command's stdout
(``password-command``, e.g. a cloud token helper, cached for ``password-ttl`` seconds in a
0600 file under the user's cache dir), or the system keyring (``keyring = true``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipwrap.errors import PipwrapError
from pipwrap.profiles.model import Profile
from pipwrap.redact import redact


@dataclass(frozen=True)
class Secret:
    value: str | None
    expires: int | None = None  # epoch seconds after which the shell must ask again


def _cache_file(profile: Profile) -> Path:
    from pipwrap import paths

    # The key covers what the secret depends on, so an edited command is not served
    # an old token.
    key = hashlib.sha256(
        f"{profile.name}\0{profile.index_url}\0{profile.username}\0{profile.password_command}"
        .encode()
    ).hexdigest()[:32]
    directory = Path(paths.user_cache_dir()) / "secrets"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    return directory / key


def _read_cache(path: Path, now: float) -> Secret | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["expires"] > now:
            return Secret(str(data["value"]), int(data["expires"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


def _write_cache(path: Path, secret: Secret) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"value": secret.value, "expires": secret.expires}, handle)
    temporary.replace(path)


def _run_command(profile: Profile, environ: Mapping[str, str]) -> str:
    try:
        argv = shlex.split(profile.password_command or "")
    except ValueError as exc:
        raise PipwrapError(f"profile {profile.name!r}: password-command: {exc}") from None
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=dict(environ), check=False, timeout=60
        )
    except FileNotFoundError:
        raise PipwrapError(
            f"profile {profile.name!r}: password-command not found: {argv[0]}"
        ) from None
    except subprocess.TimeoutExpired:
        raise PipwrapError(f"profile {profile.name!r}: password-command timed out") from None
    if done.returncode != 0:
        # Its stderr is not echoed: a failing helper may print the secret it half-read.
        raise PipwrapError(
            f"profile {profile.name!r}: password-command {argv[0]} failed "
            f"(exit status {done.returncode})"
        )
    value = done.stdout.strip("\r\n")
    if not value:
        raise PipwrapError(f"profile {profile.name!r}: password-command printed nothing")
    return value


def keyring_service(profile: Profile) -> str:
    """The keyring entry's service name: the index's host (what pip's keyring lookup and
    ``pipwrap login`` use)."""
    from urllib.parse import urlsplit

    return urlsplit(profile.index_url).hostname or profile.index_url


def keyring_module(profile: Profile) -> object:
    """The ``keyring`` package with a usable backend, or a PipwrapError saying what to do."""
    try:
        import keyring  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from pipwrap.install_hint import install_command

        raise PipwrapError(
            f"profile {profile.name!r} uses keyring = true, but the keyring package is not "
            f"installed; install it with: {install_command('keyring')}"
        ) from None
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyringrc or backend plug-in
        raise PipwrapError(f"profile {profile.name!r}: the keyring cannot be loaded "
                           f"({type(exc).__name__}: {redact(str(exc))})") from None
    # keyring's fallback when it finds no backend (a server, a container, a bare SSH
    # session): every call raises NoKeyringError.
    if type(backend).__module__.startswith("keyring.backends.fail") or getattr(
            backend, "priority", 1) <= 0:
        raise PipwrapError(no_backend_message(profile))
    return keyring


def no_backend_message(profile: Profile) -> str:
    return (
        f"profile {profile.name!r} uses keyring = true, but this machine has no keyring "
        "backend (no Secret Service, KWallet or macOS Keychain is running); start one, or "
        "give the profile another password source: pipwrap add --force "
        f"{profile.name} URL --username {profile.username} --password-env VAR "
        "(or --password-command CMD)"
    )


def _from_keyring(profile: Profile) -> str:
    keyring: Any = keyring_module(profile)
    service = keyring_service(profile)
    try:
        value = keyring.get_password(service, profile.username or "")
        if value is None:
            value = keyring.get_password(profile.index_url, profile.username or "")
    except Exception as exc:  # any backend's failure: locked, D-Bus gone, no backend
        if type(exc).__name__ == "NoKeyringError":
            raise PipwrapError(no_backend_message(profile)) from None
        raise PipwrapError(
            f"profile {profile.name!r}: reading the keyring failed "
            f"({type(exc).__name__}: {redact(str(exc))})"
        ) from None
    if value is None:
        raise PipwrapError(
            f"profile {profile.name!r}: no password in the keyring for {profile.username!r} "
            f"at {service!r}; store one with: pipwrap login {profile.name}"
        )
    return str(value)


def password(profile: Profile, environ: Mapping[str, str]) -> Secret:
    if profile.password_env:
        value = environ.get(profile.password_env)
        if not value:
            raise PipwrapError(
                f"profile {profile.name!r}: password-env names {profile.password_env}, "
                "which is not set"
            )
        return Secret(value)
    if profile.password_command:
        if profile.password_ttl <= 0:
            # Without a TTL the shell asks each time: expire immediately.
            return Secret(_run_command(profile, environ), int(time.time()))
        now = time.time()
        cache = _cache_file(profile)
        cached = _read_cache(cache, now)
        if cached is not None:
            return cached
        secret = Secret(_run_command(profile, environ), int(now) + profile.password_ttl)
        _write_cache(cache, secret)
        return secret
    if profile.keyring:
        return Secret(_from_keyring(profile))
    return Secret(None)
