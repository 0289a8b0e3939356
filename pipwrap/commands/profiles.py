"""The commands that edit profiles (add, set-url, remove, rename, default), choose one
(use) or trust a directory's choice (allow, deny).

The reading ones (list, show, current) are in :mod:`pipwrap.commands.listing`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from pipwrap.commands.common import seconds
from pipwrap.errors import PipwrapError
from pipwrap.profiles.model import BUILTIN_NAME, BUILTIN_UPLOAD_URL, BUILTIN_URL


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    if name == "add":
        parser.description = "Add a profile to config.toml, keeping its comments."
        parser.add_argument("name")
        parser.add_argument("url", help="the index URL (PEP 503 simple index)")
        parser.add_argument(
            "--default", action="store_true",
            help="also make it the default (the first profile always becomes it)")
        parser.add_argument("--force", "-f", action="store_true",
                            help="replace a profile of that name (all its settings)")
        parser.add_argument("--trusted-host", action="store_true",
                            help="let pip use this plain-http host off loopback")
        parser.add_argument("--username", help="user name for the index")
        parser.add_argument("--upload-url", metavar="URL",
                            help="where `wrap twine upload` sends distributions (`local` "
                            "keeps the built-in one, serve's, unless given)")
        parser.add_argument("--ca-file", metavar="FILE",
                            help="PEM file of the CA that signed the index's certificate "
                            "(a company CA), trusted besides the system's")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--password-env", metavar="VAR",
                            help="read the password from $VAR")
        secret.add_argument("--password-command", metavar="CMD",
                            help="run CMD and use its stdout as the password")
        secret.add_argument("--keyring", action="store_true", help="read it from the keyring")
        parser.add_argument("--password-ttl", type=seconds(int), metavar="SECONDS",
                            help="cache the password-command output this long")
        parser.add_argument("--fallback", action="append", metavar="URL",
                            help="a further source, tried per project when the ones before "
                            "answer 404 (repeat for several, in order)")
        parser.add_argument("--reserved", action="append", metavar="PATTERN",
                            help="names never taken from a fallback (PEP 503-normalized "
                            "fnmatch pattern such as acme-*; repeatable)")
        parser.add_argument("--cooldown", metavar="DURATION",
                            help="hide files uploaded more recently: \"7 days\", "
                            "\"12 hours\", P7D, PT12H")
        parser.add_argument("--cooldown-exempt", action="append", metavar="PATTERN",
                            help="names the cooldown does not apply to (repeatable)")
    elif name == "set-url":
        parser.description = (
            "Change the index URL, the upload URL or the CA file of profile NAME, keeping "
            "its other settings and comments. The built-in `local` profile is written to "
            "the config first (with its upload URL), then changed.")
        parser.add_argument("name")
        parser.add_argument("url", nargs="?", help="the new index URL")
        upload = parser.add_mutually_exclusive_group()
        upload.add_argument("--upload-url", metavar="URL",
                            help="where `wrap twine upload` sends distributions")
        upload.add_argument("--no-upload-url", action="store_true",
                            help="remove the upload URL")
        ca_file = parser.add_mutually_exclusive_group()
        ca_file.add_argument("--ca-file", metavar="FILE",
                             help="PEM file of the CA that signed the servers' certificates")
        ca_file.add_argument("--no-ca-file", action="store_true",
                             help="remove the CA file (the system's CAs only)")
    elif name in ("remove", "default"):
        parser.add_argument("name")
    elif name == "rename":
        parser.add_argument("old")
        parser.add_argument("new")
    elif name == "use":
        parser.description = (
            "`pipwrap use NAME` / `pipwrap use --off` are handled by the shell function that "
            "`pipwrap init` defines; they change only the current shell.")
        parser.add_argument("name", nargs="?")
        parser.add_argument("--off", action="store_true", help="back to the default")
    elif name == "allow":
        parser.description = (
            "Trust the nearest .pipwrap.toml at or above DIR (default: here). A new or "
            "changed file is refused until allowed again.")
        parser.add_argument("dir", nargs="?", default=".")
    elif name == "deny":
        parser.description = ("wrap ignores the nearest .pipwrap.toml from now on, whatever "
                              "it holds; `pipwrap allow` trusts it again.")
        parser.add_argument("dir", nargs="?", default=".")


def run(args: argparse.Namespace) -> int:
    return COMMANDS[args.command](args)


def cmd_add(args: argparse.Namespace) -> int:
    from pipwrap.profiles import editing, schema

    if args.password_ttl is not None and args.password_command is None:
        raise PipwrapError("add: --password-ttl needs --password-command (it is how long "
                           "that command's output is kept)")
    wanted: dict[str, Any] = {"index-url": args.url}
    for key in ("username", "password_env", "password_command", "password_ttl", "upload_url"):
        value = getattr(args, key)
        if value is not None:
            wanted[key.replace("_", "-")] = value
    if args.keyring:
        wanted["keyring"] = True
    # In the contract's order (docs/reference.md), which is the order they apply in.
    for key in ("fallback", "reserved", "cooldown", "cooldown_exempt"):
        value = getattr(args, key)
        if value is not None:  # `--cooldown ""` reaches the check, which names it
            wanted[key.replace("_", "-")] = value if isinstance(value, str) else list(value)
    if args.trusted_host:
        wanted["trusted-host"] = True
    if args.ca_file is not None:
        wanted["ca-file"] = ca_file_argument(args.ca_file, "add")
    kept_upload = args.name == BUILTIN_NAME and args.upload_url is None
    if kept_upload:
        # Redefining `local` (to add a login or a CA, or because a hint said so) must not
        # silently lose what the built-in one does: `wrap twine upload` to serve.
        wanted["upload-url"] = BUILTIN_UPLOAD_URL
    # Check the arguments on their own first: an error must point at what was typed, not
    # at a line of config.toml that was never written.
    schema.check_profile(args.name, wanted, "add")
    outcome = {"replaced": False, "default": ""}

    def mutate(document: Any) -> None:
        import tomlkit

        profiles = editing.profiles_table(document)
        if args.name in profiles:
            if not args.force:
                raise PipwrapError(
                    f"profile {args.name!r} already exists; replace it with "
                    f"pipwrap add --force {args.name} URL ..., or change only its URL with "
                    f"pipwrap set-url {args.name} URL")
            outcome["replaced"] = True
        first = not any(name != args.name for name in profiles)
        table = tomlkit.table()
        for key, value in wanted.items():
            table[key] = value
        profiles[args.name] = table
        if args.default:
            document["default"] = args.name
            outcome["default"] = " (now the default)"
        elif first and "default" not in document:
            # A config with one profile and no default would make the first `wrap` fail.
            document["default"] = args.name
            outcome["default"] = (" (now the default, as the first profile; change it "
                                  "with: pipwrap default NAME)")

    cfg = editing.edit(mutate)
    verb = "replaced" if outcome["replaced"] else "added"
    print(f"{verb} {args.name!r} in {cfg.path}{outcome['default']}")
    if kept_upload:
        print(f"note: {args.name!r} keeps the built-in upload-url {BUILTIN_UPLOAD_URL} "
              f"(`pipwrap serve`'s uploads); change it with: pipwrap set-url {args.name} "
              "--upload-url URL   (or --no-upload-url)", file=sys.stderr)
    _root_note(args.name, args.url)
    if args.keyring:
        _keyring_note(cfg.profiles[args.name])
    return 0


def _root_note(name: str, url: str) -> None:
    """The commonest mistake, said at once: a server's address without the index's path.
    pip asks for URL/NAME/, which such a server rarely answers."""
    from urllib.parse import urlsplit, urlunsplit

    from pipwrap.redact import redact

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.path not in ("", "/"):
        return
    likely = urlunsplit(parts._replace(path="/simple/"))
    print(f"pipwrap: warning: {redact(url)} looks like a server's root, not an index: "
          f"PyPI, pypiserver, devpi and `pipwrap serve` serve theirs at a path such as "
          f"{redact(likely)}; check with: pipwrap test {name}   (fix with: pipwrap set-url "
          f"{name} {redact(likely)})", file=sys.stderr)


def _keyring_note(profile: Any) -> None:
    from pipwrap.profiles import credentials

    try:
        credentials.keyring_module(profile)
    except PipwrapError as exc:
        # Not installed, or no backend on this machine: said now, not at the first `wrap`.
        print(f"note: {exc}", file=sys.stderr)
        return
    print(f"note: store the password with: pipwrap login {profile.name}", file=sys.stderr)


def cmd_set_url(args: argparse.Namespace) -> int:
    from pipwrap.profiles import editing, schema
    from pipwrap.redact import redact

    changes: dict[str, Any] = {}  # key -> new value, None to remove it
    if args.url is not None:
        changes["index-url"] = args.url
    if args.upload_url is not None or args.no_upload_url:
        changes["upload-url"] = args.upload_url
    if args.ca_file is not None or args.no_ca_file:
        changes["ca-file"] = (ca_file_argument(args.ca_file, "set-url")
                              if args.ca_file is not None else None)
    if not changes:
        raise PipwrapError("set-url: nothing to change: give a new index URL, --upload-url "
                           "URL, --no-upload-url, --ca-file FILE or --no-ca-file")
    outcome = {"materialized": False}

    def mutate(document: Any) -> None:
        import tomlkit

        profiles = editing.profiles_table(document)
        if args.name not in profiles and args.name == BUILTIN_NAME:
            # The built-in profile, written out as it is, so that only what was asked
            # changes (its upload URL stays).
            table = tomlkit.table()
            table["index-url"] = BUILTIN_URL
            table["upload-url"] = BUILTIN_UPLOAD_URL
            profiles[args.name] = table
            outcome["materialized"] = True
        _require(profiles, args.name)
        table = profiles[args.name]
        merged = {**table.unwrap(), **changes}
        schema.check_profile(args.name, {k: v for k, v in merged.items() if v is not None},
                             "set-url")
        for key, value in changes.items():
            if value is not None:
                table[key] = value
            elif key in table:
                del table[key]

    cfg = editing.edit(mutate)
    if outcome["materialized"]:
        print(f"{args.name!r} was built in; now defined in {cfg.path}")
    for key, value in changes.items():
        print(f"{args.name}: {key} = {redact(value)}" if value is not None
              else f"{args.name}: {key} removed")
    if args.url is not None:
        _root_note(args.name, args.url)
    return 0


def ca_file_argument(path: str, command: str) -> str:
    """``--ca-file``'s value as the config keeps it: absolute, and a file the fence can
    load (checked now: a typo must not wait for the first `wrap` to show)."""
    from pathlib import Path

    from pipwrap.profiles.schema import ca_file_problem

    # Absolute, not resolved: a link such as /etc/ssl/certs/corp.pem may be repointed.
    absolute = str(Path(path).expanduser().absolute())
    problem = ca_file_problem(absolute)
    if problem:
        raise PipwrapError(f"{command}: --ca-file {absolute}: {problem}")
    return absolute


def _require(profiles: Any, name: str) -> None:
    if name not in profiles and name == BUILTIN_NAME:
        raise PipwrapError(
            f"profile {name!r} is built in ({BUILTIN_URL}, where `pipwrap serve` listens) "
            "and not in your config file; change its URLs with: "
            f"pipwrap set-url {name} URL (its upload URL is kept)"
        )
    if name not in profiles:
        # The built-in profile is known too (`show` and `use` list it; `default` takes it).
        known = ", ".join(sorted({*profiles, BUILTIN_NAME}))
        from pipwrap.profiles.model import did_you_mean

        raise PipwrapError(f"unknown profile {name!r}; known profiles: {known}"
                           + did_you_mean(name, [*profiles, BUILTIN_NAME]))


def cmd_remove(args: argparse.Namespace) -> int:
    from pipwrap.profiles import editing

    was_default = False

    def mutate(document: Any) -> None:
        nonlocal was_default
        profiles = editing.profiles_table(document)
        _require(profiles, args.name)
        del profiles[args.name]
        if document.get("default") == args.name:
            was_default = True
            del document["default"]

    cfg = editing.edit(mutate)
    print(f"removed {args.name!r} from {cfg.path}")
    if was_default:
        print("note: it was the default; choose a new one with: pipwrap default NAME",
              file=sys.stderr)
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    from pipwrap.profiles import editing

    editing.check_name(args.new)

    def mutate(document: Any) -> None:
        profiles = editing.profiles_table(document)
        _require(profiles, args.old)
        if args.new in profiles:
            raise PipwrapError(f"profile {args.new!r} already exists")
        profiles[args.new] = profiles[args.old]
        del profiles[args.old]
        if document.get("default") == args.old:
            document["default"] = args.new

    editing.edit(mutate)
    print(f"renamed {args.old!r} to {args.new!r}")
    return 0


def cmd_default(args: argparse.Namespace) -> int:
    from pipwrap.profiles import editing

    def mutate(document: Any) -> None:
        profiles = editing.profiles_table(document)
        if args.name != BUILTIN_NAME:  # the built-in one is always there to choose
            _require(profiles, args.name)
        document["default"] = args.name

    editing.edit(mutate)
    print(f"default profile: {args.name}")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    raise PipwrapError(
        "`pipwrap use` changes the current shell, so it needs the shell integration: add "
        "eval \"$(pipwrap init bash)\" (or zsh/fish) to your shell's rc file"
    )


def cmd_allow(args: argparse.Namespace) -> int:
    from pipwrap.profiles import dirfile

    path = dirfile.allow(args.dir)
    print(f"allowed {path}")
    _warn_if_profile_unknown(path)
    return 0


def _warn_if_profile_unknown(path: str) -> None:
    """Allowing a file that names a missing profile is legal but would fail every `wrap`."""
    from pathlib import Path

    from pipwrap.profiles import config as config_mod
    from pipwrap.profiles import dirfile

    name = dirfile.profile_in(path, Path(path).read_bytes())
    try:
        profiles = config_mod.load().profiles
    except PipwrapError as exc:
        print(f"pipwrap: warning: {path} names profile {name!r}, and the config cannot be "
              f"read to check it: {exc}", file=sys.stderr)
        return
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "(none)"
        print(f"pipwrap: warning: {path} names profile {name!r}, which is not in "
              f"{config_mod.config_path()} (known profiles: {known}); `wrap` here fails "
              f"until you add it: pipwrap add {name} URL", file=sys.stderr)


def cmd_deny(args: argparse.Namespace) -> int:
    from pipwrap.profiles import dirfile

    path = dirfile.deny(args.dir)
    print(f"denied {path}: wrap ignores it from now on (pipwrap allow to trust it)")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "add": cmd_add, "remove": cmd_remove, "rename": cmd_rename, "default": cmd_default,
    "use": cmd_use, "allow": cmd_allow, "deny": cmd_deny, "set-url": cmd_set_url,
}
