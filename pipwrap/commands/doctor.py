"""`pipwrap doctor`: what pip really sees, what wrap changes, and what stays risky."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipwrap import pipconfig
from pipwrap.errors import RefusedError
from pipwrap.profiles import environment
from pipwrap.profiles.config import readable_by_others
from pipwrap.redact import redact

INDEX_KEYS = (
    "index-url", "pypi-url", "extra-index-url", "find-links", "trusted-host", "no-index",
    "constraint", "requirement", "build-constraint", "isolated",
)
# What wrap sets for each setting (see environment.build).
WRAP_OVERRIDES = {
    "index-url": "PIP_INDEX_URL = the profile's index",
    "pypi-url": "PIP_INDEX_URL overrides it (pip reads both as --index-url)",
    "extra-index-url": "PIP_EXTRA_INDEX_URL = ' ' (cleared)",
    "find-links": "PIP_FIND_LINKS = ' ' (cleared)",
    "trusted-host": "PIP_TRUSTED_HOST = ' ' (cleared, or the profile's host if trusted-host)",
    "no-index": "PIP_NO_INDEX = false",
    "constraint": "not overridden: wrap checks the file before each pip command",
    "requirement": "not overridden: wrap checks the file before each pip command",
    "build-constraint": "not overridden: wrap checks the file before each pip command",
    "isolated": "not overridden: wrap refuses --isolated on the command line",
}


@dataclass(frozen=True)
class Risk:
    message: str
    neutralized: bool  # True when wrap makes it harmless for wrapped commands


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in environment.LOOPBACK_HOSTS or host.startswith("127.")


def _has_password(url: str) -> bool:
    parts = urlsplit(url)
    return parts.password is not None


def _effective(found: list[pipconfig.Setting], key: str) -> pipconfig.Setting | None:
    # pip applies [global] from every file, then [<command>], then the environment.
    ordered = [s for s in found if s.section == "global"]
    ordered += [s for s in found if s.section not in ("global", ":env:")]
    ordered += [s for s in found if s.section == ":env:"]
    matching = [s for s in ordered if s.key == key]
    return matching[-1] if matching else None


def _risks(found: list[pipconfig.Setting], profile: Any, config_path: Path,
           environ: Mapping[str, str]) -> list[Risk]:
    from pipwrap import guard

    risks: list[Risk] = []
    for setting in found:
        value = redact(setting.value)
        if setting.key == "extra-index-url" and setting.value.strip():
            risks.append(Risk(f"extra-index-url {value} in {setting.source}: plain pip merges "
                              "it with your index (dependency confusion)", True))
        elif setting.key == "find-links" and setting.value.strip():
            risks.append(Risk(f"find-links {value} in {setting.source}: a second package "
                              "source for plain pip", True))
        elif setting.key == "trusted-host":
            for host in setting.value.split():
                if host.split(":")[0] not in environment.LOOPBACK_HOSTS:
                    risks.append(Risk(f"trusted-host {host} in {setting.source}: TLS checks "
                                      "are off for it in plain pip", True))
        elif setting.key == "index-url" and setting.value.startswith("http://") \
                and not _is_loopback(setting.value):
            risks.append(Risk(f"http:// index {value} off loopback in {setting.source}", True))
        if "://" in setting.value and any(_has_password(w) for w in setting.value.split()):
            risks.append(Risk(f"a password is written in plain text in {setting.source}", False))
    for layer in pipconfig.layers(environ):
        if layer.is_file() and readable_by_others(layer.path):
            text = Path(layer.path).read_text(encoding="utf-8", errors="replace")
            if any(_has_password(w) for w in text.split() if "://" in w):
                risks.append(Risk(f"{layer.path} holds a password and is readable by others",
                                  False))
    try:
        guard.scan_files(guard.config_files_to_scan(environ, _pip_prefixes(environ)), environ,
                         index_url=profile.index_url)
    except RefusedError as exc:
        risks.append(Risk(f"wrap will refuse pip commands: {str(exc).splitlines()[0]}", False))
    risks += _scrubbed(environ)
    risks += _project_sources(environ, profile.index_url)
    if profile.index_url.startswith("http://") and not _is_loopback(profile.index_url):
        risks.append(Risk(f"profile {profile.name!r} uses http:// off loopback "
                          f"({profile.shown_url}): anyone on the path can swap "
                          "packages; use https://", False))
    risks += _login_risks(profile, environ)
    if profile.holds_credential:
        readable = readable_by_others(str(config_path))
        risks.append(Risk(
            f"profile {profile.name!r} has a credential written in {config_path}"
            + (" and the file is readable by others (chmod 600 it)" if readable else
               "; prefer password-env, password-command or keyring"),
            not readable,
        ))
    return risks


def _login_risks(profile: Any, environ: Mapping[str, str]) -> list[Risk]:
    """A login wrap cannot read makes every wrapped command fail: not "safe". Checked
    without side effects (a password-command is not run)."""
    from pipwrap.errors import PipwrapError
    from pipwrap.profiles import credentials

    if profile.keyring:
        try:
            credentials.keyring_module(profile)
        except PipwrapError as exc:
            return [Risk(f"{exc}; wrap fails for this profile until then", False)]
    if profile.password_env and not environ.get(profile.password_env):
        return [Risk(f"profile {profile.name!r}: password-env names {profile.password_env}, "
                     "which is not set here; wrap fails for this profile until it is", False)]
    return []


def _pip_prefixes(environ: Mapping[str, str]) -> list[str]:
    """The prefixes of the pip and python on PATH: their own pip.conf is pip's site layer.

    Each is asked for its ``sys.prefix``: a shim (pyenv, asdf) is a script in
    ``~/.pyenv/shims`` whose interpreter lives under ``~/.pyenv/versions/X``, which no
    reading of the file can tell. A command that cannot be asked gets the guard's guess."""
    from pipwrap.guard.context import Context
    from pipwrap.guard.launchers import note_interpreter_of

    key = (environ.get("PATH", ""), environ.get("VIRTUAL_ENV", ""), environ.get("HOME", ""))
    if key in _PREFIXES:
        return _PREFIXES[key]
    found: list[str] = []
    for command in ("pip", "pip3", "python3", "python"):
        asked = _ask_prefix(command, environ)
        if asked is not None:
            found.append(asked)
            continue
        ctx = Context(environ)
        note_interpreter_of(command, ctx)
        found += ctx.prefixes
    _PREFIXES[key] = list(dict.fromkeys(found))
    return _PREFIXES[key]


_PREFIXES: dict[tuple[str, str, str], list[str]] = {}  # one doctor run asks each once


def _ask_prefix(command: str, environ: Mapping[str, str]) -> str | None:
    import re
    import shutil
    import subprocess

    path = shutil.which(command, path=environ.get("PATH", ""))
    if path is None:
        return None
    if command.startswith("python"):
        argv = [path, "-I", "-c", "import sys; print(sys.prefix)"]
    else:
        argv = [path, "--version"]  # "pip X from PREFIX/lib/pythonY/site-packages/pip (...)"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False,
                              env=dict(environ))
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    if done.returncode != 0 or not out:
        return None
    if command.startswith("python"):
        return out.splitlines()[-1]
    match = re.search(r" from (.+?)[/\\][Ll]ib[/\\](?:python[^/\\]*[/\\])?"
                      r"(?:site|dist)-packages[/\\]pip", out)
    return match.group(1) if match else None


def _scrubbed(environ: Mapping[str, str]) -> list[Risk]:
    from pipwrap.guard import scrub

    return [Risk(f"{name}={redact(environ[name])} in the environment: plain pip/uv may read "
                 "it as a package source; wrap removes it for the wrapped command", True)
            for name in scrub.unset_names(environ)
            if not name.startswith("UV_") or environ[name]]


def _project_sources(environ: Mapping[str, str], index_url: str) -> list[Risk]:
    """Sources each installer's own project settings name (uv, pdm, pip-tools, tox, ...)."""
    try:
        from pipwrap.guard import projects
    except ImportError:  # pragma: no cover - during the guard's construction only
        return []
    from pipwrap.guard import scrub
    from pipwrap.guard.api import new_context

    ctx = new_context(scrub.child_environ(environ, {}), None, index_url)
    risks = []
    for tool, where, description in projects.findings(ctx, ctx.cwd):
        refused = tool != "poetry"
        tail = ("wrap refuses the commands that would use it" if refused else
                f"wrap cannot steer {tool}'s own sources: run {tool} without wrap only if "
                "you trust them")
        risks.append(Risk(f"{tool}: {description} ({where}); {tail}", refused))
    return risks


def report(profile_name: str | None, environ: Mapping[str, str]) -> dict[str, Any]:
    from pipwrap.profiles.resolve import resolve

    resolution = resolve(profile_name, environ=environ)
    found = [s for s in pipconfig.settings(environ, site_prefixes=_pip_prefixes(environ))
             if s.key in INDEX_KEYS]
    settings = []
    for key in INDEX_KEYS:
        effective = _effective(found, key)
        for setting in (s for s in found if s.key == key):
            settings.append({
                "key": key,
                "value": redact(setting.value),
                "source": setting.source,
                "effective_without_wrap": setting is effective,
                "under_wrap": WRAP_OVERRIDES[key],
            })
    layers = [
        {"layer": layer.kind, "path": layer.path, "exists": layer.is_file()}
        for layer in pipconfig.layers(environ, _pip_prefixes(environ))
    ]
    if environ.get("PIP_CONFIG_FILE") == os.devnull:
        layers.append({"layer": "env-file", "path": os.devnull, "exists": False})
    risks = _risks(found, resolution.profile, Path(resolution.config.path), environ)
    return {
        "profile": resolution.profile.name,
        "index_url": resolution.profile.shown_url,
        "reason": resolution.reason,
        "config": str(resolution.config.path),
        "pip_config_layers": layers,
        "settings": settings,
        "risks": [asdict(r) for r in risks],
        "safe": all(r.neutralized for r in risks),
    }


def _print_text(data: dict[str, Any]) -> None:
    out = sys.stdout.write
    out(f"profile: {data['profile']}  {data['index_url']}\n  ({data['reason']})\n\n")
    out("pip config files, in the order pip reads them:\n")
    for layer in data["pip_config_layers"]:
        mark = "found" if layer["exists"] else "absent"
        out(f"  {layer['layer']:<9} {layer['path']}  [{mark}]\n")
    out("\nindex settings pip would see without wrap (> marks the one in force):\n")
    if not data["settings"]:
        out("  none\n")
    for item in data["settings"]:
        mark = ">" if item["effective_without_wrap"] else " "
        out(f" {mark} {item['key']} = {item['value']}\n      from {item['source']}\n"
            f"      under wrap: {item['under_wrap']}\n")
    out("\nrisks:\n")
    if not data["risks"]:
        out("  none\n")
    for risk in data["risks"]:
        tag = "neutralized by wrap" if risk["neutralized"] else "NOT neutralized"
        out(f"  - [{tag}] {risk['message']}\n")
    verdict = "wrap is safe here" if data["safe"] else "a risk remains that wrap cannot fix"
    out(f"\nverdict: {verdict}\n")


def main(profile_name: str | None, *, as_json: bool) -> int:
    data = report(profile_name, os.environ)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        _print_text(data)
    return 0 if data["safe"] else 1


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from pipwrap.commands.common import add_json, add_profile

    parser.description = (
        "Read pip's config layers and PIP_* variables, show each index-related setting with "
        "its source, what wrap overrides, and risks. Exit 1 if a risk remains that wrap "
        "cannot neutralize.")
    add_profile(parser)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    return main(args.profile, as_json=bool(args.json))
