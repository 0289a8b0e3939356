"""Commands about the config file as a whole: edit, config path/show/schema, import."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from pipwrap.errors import PipwrapError

# What `pipwrap edit` starts from when there is no config yet: valid TOML (all comments)
# that shows the shape, so the user need not look it up.
TEMPLATE = """\
# pipwrap profiles. Lines starting with # are comments.
# Every key is described by `pipwrap config schema` (a JSON Schema) and the README.
#
# default = "local"
#
# [profiles.local]
# index-url = "http://127.0.0.1:8080/simple/"
#
# [profiles.corp]
# index-url = "https://pkgs.example.com/simple/"
# username = "alice"
# password-env = "CORP_TOKEN"
"""


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from pipwrap.commands.common import add_json

    if name == "edit":
        parser.description = (
            "Open config.toml in $VISUAL, else $EDITOR, else vi. The file is replaced only if "
            "what you saved is a valid config; otherwise it stays as it was, the error names "
            "the line, and your edit is kept beside it.")
    elif name == "config":
        parser.description = (
            "pipwrap config path: print the config file's path. "
            "pipwrap config show: print it with credentials masked. "
            "pipwrap config schema: print the JSON Schema of config.toml (for editors).")
        what = parser.add_subparsers(dest="config_command", metavar="WHAT", required=True)
        path = what.add_parser("path", help="print the config file's path")
        add_json(path)
        show = what.add_parser("show", help="print the config, credentials masked")
        add_json(show)
        schema = what.add_parser("schema", help="print the JSON Schema of config.toml")
        schema.add_argument("--path", action="store_true",
                            help="print where the schema file is installed instead")
    elif name == "import":
        parser.description = (
            "Read the index settings pip already has (every pip.conf layer, PIP_INDEX_URL, "
            "PIP_EXTRA_INDEX_URL) and add a profile for each index. A password or token in "
            "a URL is never written to config.toml: the profile gets a username and "
            "password-env instead, and you are told what to set.")
        parser.add_argument("--dry-run", "-n", action="store_true",
                            help="print what would be added; change nothing")
        add_json(parser)


def run(args: argparse.Namespace) -> int:
    return COMMANDS[args.command](args)


def cmd_edit(args: argparse.Namespace) -> int:
    import shlex
    import subprocess
    import tempfile

    from pipwrap import files
    from pipwrap.profiles import config as config_mod
    from pipwrap.profiles import schema

    path = Path(config_mod.config_path())
    try:
        original: bytes | None = path.read_bytes()
    except FileNotFoundError:
        original = None
    except OSError as exc:
        raise PipwrapError(f"{path}: cannot read: {exc.strerror}") from None
    start = config_mod.decode(original, str(path)) if original is not None else TEMPLATE
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        argv = shlex.split(editor)
    except ValueError as exc:
        raise PipwrapError(f"edit: cannot split the editor command {editor!r}: {exc}") from None
    if not argv:
        raise PipwrapError("edit: $VISUAL / $EDITOR is blank")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A private copy beside the file (mkstemp makes it 0600: it may hold a password), so
    # that a crash or a bad edit never leaves config.toml half-written.
    fd, name = tempfile.mkstemp(prefix=f"{path.stem}.edit-", suffix=".toml", dir=path.parent)
    draft = Path(name)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(start)
    while True:
        try:
            status = subprocess.run([*argv, str(draft)], check=False).returncode
        except OSError as exc:
            draft.unlink()
            raise PipwrapError(f"edit: cannot run the editor {argv[0]!r} (from "
                               f"{'$VISUAL' if os.environ.get('VISUAL') else '$EDITOR'}): "
                               f"{exc.strerror}") from None
        if status != 0:
            draft.unlink()
            raise PipwrapError(f"edit: the editor exited with status {status}; {path} is "
                               "unchanged")
        text = config_mod.decode(draft.read_bytes(), str(draft))
        if text == start:
            draft.unlink()
            print(f"no changes to {path}")
            return 0
        try:
            new = schema.parse(text, str(draft))
            break
        except PipwrapError as exc:
            problem = str(exc)
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise PipwrapError(f"{problem}\n{path} is unchanged; your edit is kept in {draft} "
                               "(fix it there and copy it over, or delete it)")
        sys.stderr.write(f"pipwrap: {problem}\nedit again? [Y/n] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() in ("n", "no"):
            raise PipwrapError(f"{path} is unchanged; your edit is kept in {draft}")
    with files.locked(path):
        try:
            now: bytes | None = path.read_bytes()
        except FileNotFoundError:
            now = None
        if now != original:
            raise PipwrapError(f"{path} was changed by something else while you edited it; "
                               f"it is left as it is now, and your edit is kept in {draft}")
        old_mode = path.stat().st_mode & 0o777 if original is not None else 0o644
        mode = 0o600 if any(p.holds_credential for p in new.profiles.values()) else old_mode
        files.write_atomic(path, text, mode)
    draft.unlink()
    from pipwrap.profiles import snapshot

    snapshot.store(str(path), text.encode("utf-8"), new)
    print(f"saved {path}")
    return 0


def schema_file() -> Path:
    return Path(__file__).resolve().parent.parent / "profiles" / "config.schema.json"


def cmd_config(args: argparse.Namespace) -> int:
    from pipwrap.profiles import config as config_mod

    if args.config_command == "path":
        path = config_mod.config_path()
        if args.json:
            _print_json({"config": path, "exists": Path(path).is_file()})
        else:
            print(path)
        return 0
    if args.config_command == "schema":
        target = schema_file()
        if args.path:
            print(target)
        else:
            sys.stdout.write(target.read_text(encoding="utf-8"))
        return 0
    cfg = config_mod.load()
    if args.json:
        from pipwrap.commands.listing import profile_data

        _print_json({"config": cfg.path, "default": cfg.default,
                     "profiles": [profile_data(cfg.profiles[n]) for n in sorted(cfg.profiles)]})
        return 0
    import re

    from pipwrap.redact import redact

    text = config_mod.read_text(cfg.path)
    # As in `show`: a password command may carry its secret in its arguments.
    masked = re.sub(r"(?m)^(\s*[\"']?password-command[\"']?\s*=\s*).*$", r'\1"(set)"',
                    redact(text))
    sys.stdout.write(f"# {cfg.path}\n{masked}")
    if text and not text.endswith("\n"):
        sys.stdout.write("\n")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from pipwrap.profiles import importer

    return importer.main(dry_run=bool(args.dry_run), as_json=bool(args.json))


def _print_json(data: object) -> None:
    import json

    print(json.dumps(data, indent=2))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "edit": cmd_edit, "config": cmd_config, "import": cmd_import,
}
