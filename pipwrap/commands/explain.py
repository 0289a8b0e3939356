"""``pipwrap explain NAME``: which of the profile's sources answers for a project and why.

It reads the sources' pages the way the fence does and decides with the fence's own code
(``fence/sources.py``): reserved names, the first source that has the project, a 404 that
moves on, a failing source that fails closed, and the files a cooldown hides.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

from pipwrap.errors import PipwrapError

# PEP 508's project name: what the sources are asked for must be a name, never a path.
_PROJECT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pipwrap.fence.sources import Outcome, Rules
    from pipwrap.profiles.model import Profile


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from pipwrap.commands.common import add_json, add_profile

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = """\
Say which of the profile's sources answers for project NAME under `wrap`, and why:

  - a reserved name (the profile's `reserved`) is never taken from a fallback, nor
    from another origin the first source redirects it to (its own fallback);
  - the sources (index-url, then each `fallback`) are asked in order; the first whose
    page for NAME exists answers, and only its files are offered;
  - only a 404 or 410 moves on to the next source; any other failure fails closed;
  - `cooldown` hides files uploaded more recently (or without an upload time), except
    for `cooldown-exempt` names; their versions and upload times are listed.

The pages are read as the fence reads them (with the profile's login and CA file).
Exit 0 when a source offers files for NAME, 1 when `wrap` would get none.
"""
    parser.add_argument("project", metavar="NAME", help="the project (any spelling)")
    add_profile(parser)
    add_json(parser)


def rules_of(profile: Profile) -> Rules:
    from pipwrap.fence.sources import Rules
    from pipwrap.profiles.environment import split_credentials

    clean = split_credentials(profile.index_url)[0]
    return Rules((clean, *profile.fallback), profile.reserved, profile.cooldown,
                 profile.cooldown_exempt)


def explain(profile: Profile, project: str, environ: dict[str, str]) -> Outcome:
    from urllib.parse import urlsplit

    from pipwrap.fence import sourcefetch, sources
    from pipwrap.profiles import environment
    from pipwrap.profiles.credentials import password

    if urlsplit(profile.index_url).scheme == "file":
        raise PipwrapError(f"explain: profile {profile.name!r} reads a file:// index from "
                           "disk; it has one source and no cooldown, nothing to explain")
    secret = password(profile, environ).value if profile.username else None
    _clean, login = environment.login(profile, secret)
    rules = rules_of(profile)
    return sources.compose(project, rules, sourcefetch.fetcher(rules, login, profile.ca_file),
                           time.time())


def run(args: argparse.Namespace) -> int:
    from pipwrap.profiles.resolve import resolve

    if not _PROJECT_NAME.fullmatch(args.project):
        raise PipwrapError(f"explain: {args.project!r} is not a project name (letters, "
                           "digits, and '.', '_' or '-' between them)")
    profile = resolve(args.profile).profile
    outcome = explain(profile, args.project, dict(os.environ))
    rules = rules_of(profile)
    answered = rules.name(outcome.source) if outcome.source is not None else None
    if args.json:
        data = {
            "profile": profile.name, "project": outcome.project, "status": outcome.status,
            "source": answered, "steps": outcome.steps, "refusal": outcome.refusal,
            "redirected_to": outcome.redirected,
            "offered": [f.filename for f in outcome.files],
            "outside_cooldown": outcome.undated,
            "hidden": [{"filename": f.filename, "upload_time": f.upload_time, "why": why}
                       for f, why in outcome.hidden],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        _print_text(profile, outcome, answered)
    return 0 if outcome.status == 200 and outcome.files else 1


def _print_text(profile: Profile, outcome: Outcome, answered: str | None) -> None:
    from pipwrap.fence.sources import versions

    name = outcome.project
    if outcome.status == 200:
        offered = ", ".join(versions(outcome.files)) or "none"
        through = f" through its redirect to {outcome.redirected}" if outcome.redirected else ""
        print(f"{name}: {answered} answers{through} (profile {profile.name!r}); versions "
              f"offered: {offered}")
    elif outcome.status == 404:
        print(f"{name}: no source of profile {profile.name!r} has it")
    else:
        print(f"{name}: refused under profile {profile.name!r}: {outcome.refusal}")
    for step in outcome.steps:
        print(f"  {step}")
    from pipwrap.sourcerules import matches

    reserved = matches(name, profile.reserved)
    if reserved is not None and outcome.status == 200:
        print(f"  reserved (pattern {reserved!r}): never taken from a fallback")
    if outcome.hidden:
        print(f"  hidden by the cooldown ({profile.cooldown}):")
        for record, why in outcome.hidden:
            print(f"    {record.filename}: {why}")
    if outcome.undated:
        print(f"  cooldown {profile.cooldown}: not applied: {answered}'s page carries no "
              "upload times (PEP 700, JSON pages only); that source is outside the cooldown")
    elif profile.cooldown and outcome.status == 200 and not outcome.hidden:
        exempt = matches(name, profile.cooldown_exempt)
        print(f"  cooldown {profile.cooldown}: "
              + (f"exempt (pattern {exempt!r})" if exempt else "hides no file"))
