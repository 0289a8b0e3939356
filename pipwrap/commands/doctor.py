"""`pipwrap doctor`: what pip really sees, what wrap changes, and what stays risky."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipwrap import pipconfig
from pipwrap.commands import doctor_project
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
    # The profile chose it (isolation = "off"): not counted against "safe", and not
    # claimed as made harmless either.
    chosen: bool = False


def _is_loopback(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # not a URL (a bracket left open): reported as a source, not a crash
        return False
    return host in environment.LOOPBACK_HOSTS or host.startswith("127.")


def _has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return "@" in url  # unreadable: assume the worst, the risk is only shown


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
    risks += _project_sources(environ, profile.index_url, bool(profile.fallback))
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

    A command whose interpreter can be read from its file (a binary, a script with an
    absolute ``#!`` to a python) is answered by that interpreter: at once for a venv's (its
    pyvenv.cfg decides), else by asking it for ``sys.prefix``. Anything else, such as a
    pyenv or asdf shim (a shell script that picks an interpreter at run time), is run. All
    the questions run at once: doctor took 1.3 s when it ran ``pip --version`` twice in a
    row through shims (pip's own import is ~0.3 s of that)."""
    key = (environ.get("PATH", ""), environ.get("VIRTUAL_ENV", ""), environ.get("HOME", ""))
    if key not in _PREFIXES:
        _PREFIXES[key] = _ask_prefixes(environ)
    return _PREFIXES[key]


_PREFIXES: dict[tuple[str, str, str], list[str]] = {}  # one doctor run asks each once

# Run by a pip that cannot be read (a shim) instead of pip itself: PYTHONPATH makes the
# interpreter the shim chooses import it at start-up, before pip (~0.3 s) is imported.
_PROBE = ("import os, sys\nsys.stdout.write('pipwrap-prefix ' + sys.prefix + '\\n')\n"
          "sys.stdout.flush()\nos._exit(0)\n")
_PROBE_MARK = "pipwrap-prefix "


def _ask_prefixes(environ: Mapping[str, str]) -> list[str]:
    questions: list[tuple[str, tuple[str, ...]]] = []  # (command, argv; or (prefix,))
    dispatchers: dict[tuple[str, bytes], tuple[str, ...]] = {}
    for command in ("pip", "pip3", "python3", "python"):
        path = shutil.which(command, path=environ.get("PATH", ""))
        if path is None:
            continue
        first_line, interpreter = _interpreter_of(path, is_python=command.startswith("python"))
        if interpreter is not None:
            venv = _venv_of(interpreter)
            questions.append((command, (venv,) if venv else (interpreter, *_SAY_PREFIX)))
            continue
        argv: tuple[str, ...] = (path, "--version") if command.startswith("pip") else \
            (path, *_SAY_PREFIX)
        # pyenv's shims are one script under many names, which picks the same version for
        # pip, pip3, python3 and python (unless that version lacks one): asked once.
        shim = (str(Path(path).resolve().parent), _file_bytes(path)) if first_line else None
        if shim is not None:
            argv = dispatchers.setdefault(shim, argv)
        questions.append((command, argv))
    asked = {argv for _command, argv in questions if len(argv) > 1}
    with tempfile.TemporaryDirectory(prefix="pipwrap-doctor-") as probe_dir:
        (Path(probe_dir) / "sitecustomize.py").write_text(_PROBE, encoding="utf-8")
        child_env = dict(environ)
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (probe_dir, environ.get("PYTHONPATH", "")) if p)
        running = {argv: _start(argv, child_env) for argv in asked}  # all at once
        answers = {argv: _answer(argv, process) for argv, process in running.items()}
    found: list[str] = []
    for command, argv in questions:
        answer = argv[0] if len(argv) == 1 else answers[argv]
        if answer is None:  # could not be asked: the guard's own guess
            from pipwrap.guard.context import Context
            from pipwrap.guard.launchers import note_interpreter_of

            ctx = Context(environ)
            note_interpreter_of(command, ctx)
            found += ctx.prefixes
        else:
            found.append(answer)
    return list(dict.fromkeys(found))


_SAY_PREFIX = ("-I", "-c", "import sys; print(sys.prefix)")


def _file_bytes(path: str) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            return handle.read(1 << 16)
    except OSError:
        return b""


def _interpreter_of(path: str, *, is_python: bool) -> tuple[bytes, str | None]:
    """The file's ``#!`` line, and the interpreter that runs it when the file says so."""
    try:
        with Path(path).open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        return b"", None
    if not first.startswith(b"#!"):
        return b"", path if is_python else None  # a binary python; a pip that is no script
    words = first[2:].split()
    interpreter = words[0].decode(errors="replace") if words else ""
    if interpreter.startswith("/") and Path(interpreter).name.startswith("python"):
        return first, interpreter
    return first, None  # `#!/usr/bin/env python`, a shell script (shim), sh's exec trick


def _venv_of(interpreter: str) -> str | None:
    """A venv's prefix is where its pyvenv.cfg is, as the interpreter itself decides."""
    bindir = Path(interpreter).absolute().parent
    for prefix in (bindir.parent, bindir):
        if (prefix / "pyvenv.cfg").exists():
            return str(prefix)
    return None


def _start(argv: tuple[str, ...], env: dict[str, str]) -> subprocess.Popen[str] | None:
    try:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, text=True, env=env)
    except OSError:
        return None


def _answer(argv: tuple[str, ...], process: subprocess.Popen[str] | None) -> str | None:
    """The prefix one asked command printed, or None."""
    if process is None:
        return None
    try:
        out, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    lines = out.strip().splitlines()
    if process.returncode != 0 or not lines:
        return None
    for line in lines:
        if line.startswith(_PROBE_MARK):
            return line[len(_PROBE_MARK):]
    if "--version" not in argv:
        return lines[-1]
    # A pip the probe did not reach: "pip X from PREFIX/lib/pythonY/site-packages/pip (...)"
    match = re.search(r" from (.+?)[/\\][Ll]ib[/\\](?:python[^/\\]*[/\\])?"
                      r"(?:site|dist)-packages[/\\]pip", out)
    return match.group(1) if match else None


def _scrubbed(environ: Mapping[str, str]) -> list[Risk]:
    from pipwrap.guard import scrub

    return [Risk(f"{name}={redact(environ[name])} in the environment: plain pip/uv may read "
                 "it as a package source; wrap removes it for the wrapped command", True)
            for name in scrub.unset_names(environ)
            if not name.startswith("UV_") or environ[name]]


def _project_sources(environ: Mapping[str, str], index_url: str,
                     has_fallback: bool = False) -> list[Risk]:
    """Sources each installer's own project settings name (uv, pdm, pip-tools, tox, ...)."""
    try:
        from pipwrap.guard import projects
    except ImportError:  # pragma: no cover - during the guard's construction only
        return []
    from pipwrap.guard import scrub
    from pipwrap.guard.api import new_context

    ctx = new_context(scrub.child_environ(environ, {}), None, index_url,
                      has_fallback=has_fallback)
    risks = []
    for tool, where, description in projects.findings(ctx, ctx.cwd):
        refused = tool != "poetry"
        tail = ("wrap refuses the commands that would use it" if refused else
                f"wrap cannot steer {tool}'s own sources: run {tool} without wrap only if "
                "you trust them")
        risks.append(Risk(f"{tool}: {description} ({where}); {tail}", refused))
    return risks


def _uv_config_risks(environ: Mapping[str, str], index_url: str) -> list[Risk]:
    """uv.toml files (the project's, the user's, the system's): wrap's UV_NO_CONFIG keeps
    wrapped uv from reading them; plain uv reads them."""
    from pipwrap.guard import projects, scrub
    from pipwrap.guard.api import new_context

    here = Path.cwd()
    nearest = next((folder / "uv.toml" for folder in (here, *here.parents)
                    if (folder / "uv.toml").is_file()), None)
    candidates = [nearest] if nearest else []
    config_home = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "/"),
                                                               ".config"))
    candidates.append(Path(config_home, "uv", "uv.toml"))
    system_dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    candidates += [Path(d, "uv", "uv.toml") for d in system_dirs.split(os.pathsep) if d]
    candidates.append(Path("/etc/uv/uv.toml"))
    ctx = new_context(scrub.child_environ(environ, {}), None, index_url)
    risks = []
    for path in dict.fromkeys(candidates):
        if not path.is_file():
            continue
        try:
            found = projects.uv_config_sources(str(path), ctx)
        except RefusedError as exc:
            risks.append(Risk(f"uv: {str(exc).splitlines()[0].removeprefix('refused: ')}; "
                              "plain uv stops on it too", True))
            continue
        risks += [Risk(f"uv: {description} ({where}): plain uv reads it; wrap sets "
                       "UV_NO_CONFIG=1, so wrapped uv does not", True)
                  for where, description in found]
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
    risks += _uv_config_risks(environ, resolution.profile.index_url)
    isolation = _isolation(resolution.profile.isolation)
    root, tools = doctor_project.project_tools(str(Path.cwd()))
    proxy_off, held = doctor_project.proxy_off(resolution.profile, environ, root, tools,
                                               isolation)
    risks += [Risk(message, neutralized) for message, neutralized in held]
    if not isolation["on"]:
        # Without the namespace, a child that switches its proxy off reaches the network:
        # the guard's refusals above are then the whole defence against that.
        chosen = resolution.profile.isolation == "off"
        risks.append(Risk(f"network isolation is off: {isolation['detail']}; a wrapped "
                          "command that switches its proxy off is not stopped by the fence",
                          chosen, chosen=chosen))
    return {
        "profile": resolution.profile.name,
        "index_url": resolution.profile.shown_url,
        "reason": resolution.reason,
        "config": str(resolution.config.path),
        "pip_config_layers": layers,
        "settings": settings,
        "isolation": isolation,
        "sources": _sources(resolution.profile),
        "risks": [asdict(r) for r in risks],
        "project": doctor_project.project_verdicts(resolution.profile, environ, root, tools),
        "proxy_off": proxy_off,
        "safe": all(r.neutralized for r in risks),
    }


def _sources(profile: Any) -> dict[str, Any] | None:
    """The profile's source policy (issue 24: fallback, reserved, cooldown), and which of
    its sources answer in HTML only: their pages carry no upload times (PEP 700 is JSON
    only), which puts them outside the cooldown. Asked without the login, 3 s each."""
    if not profile.has_source_rules:
        return None
    from pipwrap.commands.explain import rules_of
    from pipwrap.fence import sourcefetch

    rules = rules_of(profile)
    fetch = sourcefetch.fetcher(rules, None, profile.ca_file, timeout=3.0)
    listed = []
    for number, shown in enumerate((profile.shown_url, *profile.shown_fallback)):
        entry: dict[str, Any] = {"url": shown, "upload_times": None}
        if profile.cooldown:
            answer = fetch(number, rules.sources[number])
            if answer.status == 200:
                dated = "json" in (answer.content_type or "")
                entry["upload_times"] = dated
                entry["note"] = "serves PEP 691 JSON" if dated else (
                    "answers HTML only: no upload times, so it is outside the cooldown")
            else:
                entry["note"] = ("could not tell whether it dates its files ("
                                 f"{answer.error or f'HTTP {answer.status}'}); "
                                 "pipwrap explain NAME shows it per project")
        listed.append(entry)
    return {"sources": listed, "reserved": list(profile.reserved),
            "cooldown": profile.cooldown, "cooldown_exempt": list(profile.cooldown_exempt),
            "text": [f"  {n}. {e['url']}" + (f"  ({e['note']})" if "note" in e else "")
                     for n, e in enumerate(listed, start=1)]
            + [f"  reserved (never from a fallback): {', '.join(profile.reserved) or 'none'}",
               f"  cooldown: {profile.cooldown or 'none'}"
               + (f", except {', '.join(profile.cooldown_exempt)}"
                  if profile.cooldown_exempt else "")]}


def _isolation(mode: str) -> dict[str, Any]:
    """The profile's isolation setting and what it gives here (fence/netns.py)."""
    from pipwrap.fence import netns

    if mode == "off":
        return {"mode": mode, "on": False, "detail": 'the profile sets isolation = "off"'}
    found = netns.availability()
    if found.available:
        return {"mode": mode, "on": True, "detail": "each wrapped program runs in a network "
                "namespace whose only way out is the fence"}
    action = ("wrap refuses to run" if mode == "required" else
              "wrapped commands run without it")
    return {"mode": mode, "on": False, "detail": f"not available here ({found.reason}); "
            f"{action}"}


def _print_text(data: dict[str, Any]) -> None:
    out = sys.stdout.write
    out(f"profile: {data['profile']}  {data['index_url']}\n  ({data['reason']})\n")
    isolation = data["isolation"]
    state = "" if isolation["mode"] == "off" else \
        f": {'on' if isolation['on'] else 'off'}"
    out(f"isolation: {isolation['mode']}{state}, {isolation['detail']}\n\n")
    if data.get("sources"):
        out("sources, in order (a project comes from the first that has it):\n"
            + "\n".join(data["sources"]["text"]) + "\n\n")
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
        tag = ("the profile's choice" if risk.get("chosen") else
               "neutralized by wrap" if risk["neutralized"] else "NOT neutralized")
        out(f"  - [{tag}] {risk['message']}\n")
    project = data["project"]
    refused = [c["command"] for c in project["commands"] if c["verdict"] == "refused"]
    if project["root"] is not None:
        out(f"\nthis project ({project['root']}), as the guard reads it for wrap:\n")
        for item in project["commands"]:
            why = f": {item['reason']}" if item["reason"] else ""
            out(f"  wrap {item['command']:<17} {item['verdict']}{why}\n")
    verdict = "wrap is safe here" if data["safe"] else "a risk remains that wrap cannot fix"
    if refused:
        verdict += f"; in this project wrap refuses {', '.join(refused)} (see above)"
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
