"""Refuse pip-like commands that would bring in a package source besides the profile's.

The environment can override every pip config layer, but not pip's command line nor the
options inside requirement and constraint files. This module reads a command line the way
pip's optparse does (``--opt=value``, ``--opt value``, ``-iURL``, clustered short options,
unambiguous prefix abbreviations) and follows requirement files the way pip's req_file.py
does (line continuations, comments, ``${VAR}``, nested ``-r``/``-c`` relative to the
including file). When in doubt it refuses: a refused command can be run deliberately
without ``wrap``; a command that slipped through cannot be undone.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from pipwrap.errors import RefusedError
from pipwrap.redact import redact

# Options that add, replace or weaken package sources, with why each is refused.
_WHY = {
    "--extra-index-url": "adds a second package index: pip would take the highest version "
    "from either index (dependency confusion)",
    "--index-url": "replaces the profile's index for this command",
    "--find-links": "adds a second package source (a directory or page of archives)",
    "--trusted-host": "turns off TLS verification and lets an http:// source in",
    "--isolated": "makes pip ignore the environment, and with it the profile's index",
    # uv spellings
    "--index": "adds a second package index",
    "--default-index": "replaces the profile's index for this command",
    "--index-strategy": "can merge versions across indexes (dependency confusion)",
    "--config-file": "loads another uv config that can add indexes",
    "--allow-insecure-host": "turns off TLS verification and lets an http:// source in",
}

_PIP_SOURCE_OPTIONS = {
    "--extra-index-url": True,
    "--index-url": True,
    "--find-links": True,
    "--trusted-host": True,
    "--isolated": False,
}
_PIP_FILE_OPTIONS = {
    "--requirement": "requirement",
    "--constraint": "constraint",
    "--build-constraint": "constraint",
}
# Every long pip option that takes a value (pip 23.2 - 26.3), so that its value is
# never mistaken for an option.
_PIP_VALUE_OPTIONS = frozenset(
    """--abi --algorithm --all-releases --build-constraint --cache-dir --cert --client-cert
    --config-settings --constraint --default-timeout --dest --destination-dir
    --destination-directory --editable --editor --exclude --exists-action
    --extra-index-url --find-links --format --global-option --group --implementation
    --index --index-url --install-option --keyring-provider --local-log --log --log-file
    --no-binary --only-binary --only-final --output --path --platform --prefix
    --progress-bar --proxy --pypi-url --python --python-version --refresh-package --report
    --requirement --requirements-from-script --resume-retries --retries --root
    --root-user-action --source --source-dir --source-directory --src --target --timeout
    --trusted-host --upgrade-strategy --uploaded-prior-to --use-deprecated --use-feature
    --wheel-dir --build --build-option --hash""".split()
)
_PIP_FLAG_OPTIONS = frozenset(
    """--all --bash --break-system-packages --check-build-dependencies --compile --debug
    --disable-pip-version-check --dry-run --exclude-editable --files --fish
    --force-reinstall --global --help --ignore-installed --ignore-requires-python
    --include-editable --isolated --json --local --no-build-isolation --no-cache-dir
    --no-clean --no-color --no-compile --no-dependencies --no-deps --no-index --no-input
    --no-proxy-env --no-python-version-warning --no-require-hashes --no-user --no-verify
    --no-warn-conflicts --no-warn-script-location --not-required --only-dependencies
    --only-deps --outdated --powershell --pre --prefer-binary --quiet --require-hashes
    --require-venv --require-virtualenv --site --upgrade --uptodate --use-pep517 --user
    --verbose --yes --zsh --version --no-use-pep517""".split()
)
_PIP_LONG = _PIP_VALUE_OPTIONS | _PIP_FLAG_OPTIONS
_PIP_SHORT_SOURCES = {"i": "--index-url", "f": "--find-links"}
_PIP_SHORT_FILES = {"r": "--requirement", "c": "--constraint"}
_PIP_SHORT_VALUES = frozenset("rceitCfdwa")
# Subcommands that fetch packages; `pip list --outdated -i X` only reads versions.
_PIP_FETCHING = frozenset({"install", "download", "wheel", "index", "lock"})

# Options pip accepts inside requirement files (req_file.SUPPORTED_OPTIONS and per-line).
_REQ_VALUE_OPTIONS = frozenset(
    """--index-url --extra-index-url --constraint --requirement --editable --find-links
    --no-binary --only-binary --trusted-host --use-feature --hash --config-settings
    --global-option""".split()
)
_REQ_FLAG_OPTIONS = frozenset(
    "--no-index --prefer-binary --require-hashes --no-require-hashes --pre "
    "--all-releases --only-final".split()
)
_REQ_LONG = _REQ_VALUE_OPTIONS | _REQ_FLAG_OPTIONS

_UV_SOURCE_OPTIONS = {
    "--extra-index-url": True,
    "--index-url": True,
    "--find-links": True,
    "--index": True,
    "--default-index": True,
    "--index-strategy": True,
    "--config-file": True,
    "--trusted-host": True,
    "--allow-insecure-host": True,
}
_UV_FILE_OPTIONS = {
    "--requirement": "requirement",
    "--requirements": "requirement",
    "--constraint": "constraint",
    "--constraints": "constraint",
    "--override": "constraint",
    "--overrides": "constraint",
    "--build-constraint": "constraint",
    "--build-constraints": "constraint",
}
_UV_SHORT_SOURCES = {"i": "--index-url", "f": "--find-links"}
_UV_SHORT_FILES = {"r": "--requirements", "c": "--constraints", "b": "--build-constraints"}
# uv options whose value could be mistaken for an option (a conservative subset).
_UV_VALUE_OPTIONS = frozenset(
    """--python -p --target --prefix --cache-dir --directory --project --color
    --extra --group --config-setting -C --python-version --python-platform
    --reinstall-package --upgrade-package -P --no-binary --only-binary --link-mode
    --resolution --prerelease --exclude-newer --keyring-provider --output-file -o""".split()
)
# Options before `pip` in `uv ... pip` whose next token is their value, not a subcommand.
_UV_OPTIONS_WITH_VALUE = _UV_VALUE_OPTIONS | frozenset(_UV_SOURCE_OPTIONS)

_PIP_NAME = re.compile(r"pip(\d+(\.\d+)*)?")
_PYTHON_NAME = re.compile(r"(python|pypy)(\d+(\.\d+)*)?[tmd]?|py")
_ENV_VAR = re.compile(r"(\$\{([A-Z0-9_]+)\})")
_COMMENT = re.compile(r"(^|\s+)#.*$")


class Invocation(NamedTuple):
    tool: str  # "pip" or "uv"
    args: tuple[str, ...]  # the arguments pip (or uv pip) parses


class FileRef(NamedTuple):
    path: str
    kind: str  # "requirement" or "constraint"
    origin: str  # where it was named: "command line", "env PIP_CONSTRAINT", "x.txt:3"


def _basename(command: str) -> str:
    name = command.replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-4] if name.lower().endswith(".exe") else name


def classify(argv: Sequence[str]) -> Invocation | None:
    """The pip (or uv pip) invocation inside ``argv``, or None for other commands."""
    if not argv:
        return None
    name = _basename(argv[0])
    rest = list(argv[1:])
    if _PIP_NAME.fullmatch(name):
        return Invocation("pip", tuple(rest))
    if _PYTHON_NAME.fullmatch(name):
        return _python_module_pip(rest)
    if name == "uv":
        return _uv_pip(rest)
    return None


def _python_module_pip(args: list[str]) -> Invocation | None:
    index = 0
    while index < len(args):
        token = args[index]
        if token == "-m" and index + 1 < len(args):
            module, rest = args[index + 1], args[index + 2 :]
        elif token.startswith("-m") and len(token) > 2:
            module, rest = token[2:], args[index + 1 :]
        elif token in ("-W", "-X", "--check-hash-based-pycs"):
            index += 2
            continue
        elif token.startswith("-") and token != "-" and "c" not in token[1:2]:
            index += 1
            continue
        else:
            return None  # a script, -c code or stdin: not pip
        return Invocation("pip", tuple(rest)) if module == "pip" else None
    return None


def _uv_pip(args: list[str]) -> Invocation | None:
    for index, token in enumerate(args):
        if token == "pip":
            before = args[:index]
            # Global uv options before `pip` reach the pip subcommand too.
            return Invocation("uv", tuple(before + args[index + 1 :]))
        if not token.startswith("-") and (
            index == 0 or args[index - 1] not in _UV_OPTIONS_WITH_VALUE
        ):
            return None  # another uv subcommand
    return None


class _Grammar(NamedTuple):
    long_options: frozenset[str]
    value_options: frozenset[str]
    sources: Mapping[str, bool]
    files: Mapping[str, str]
    short_sources: Mapping[str, str]
    short_files: Mapping[str, str]
    short_values: frozenset[str]
    abbreviations: bool


_PIP = _Grammar(
    _PIP_LONG, _PIP_VALUE_OPTIONS, _PIP_SOURCE_OPTIONS, _PIP_FILE_OPTIONS,
    _PIP_SHORT_SOURCES, _PIP_SHORT_FILES, _PIP_SHORT_VALUES, abbreviations=True,
)
_UV = _Grammar(
    _UV_OPTIONS_WITH_VALUE | frozenset(_UV_FILE_OPTIONS),
    frozenset(_UV_VALUE_OPTIONS | set(_UV_FILE_OPTIONS)), _UV_SOURCE_OPTIONS,
    _UV_FILE_OPTIONS, _UV_SHORT_SOURCES, _UV_SHORT_FILES,
    frozenset("rcbifpoCP"), abbreviations=False,
)
_REQ = _Grammar(
    _REQ_LONG, _REQ_VALUE_OPTIONS,
    {k: True for k in ("--extra-index-url", "--index-url", "--find-links", "--trusted-host")},
    {"--requirement": "requirement", "--constraint": "constraint"},
    _PIP_SHORT_SOURCES, _PIP_SHORT_FILES, frozenset("rceifC"), abbreviations=True,
)


def _resolve_long(name: str, grammar: _Grammar) -> tuple[str, bool]:
    """(canonical option, is-abbreviation). Prefers a dangerous reading when ambiguous."""
    if name in grammar.long_options or name in grammar.sources or name in grammar.files:
        return name, False
    if not grammar.abbreviations or len(name) < 3:
        return name, False
    risky = [o for o in (*grammar.sources, *grammar.files) if o.startswith(name)]
    if risky:
        return sorted(risky)[0], True
    matches = [o for o in grammar.long_options if o.startswith(name)]
    return (matches[0], True) if len(matches) == 1 else (name, False)


class _Found(NamedTuple):
    option: str
    spelled: str
    value: str | None
    where: str


def _scan_tokens(
    tokens: Sequence[str], grammar: _Grammar, where: str
) -> Iterator[_Found | FileRef | str]:
    """Yield dangerous options, referenced files, and positionals (for the subcommand)."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token == "--":
            yield from tokens[index:]
            return
        if token.startswith("--"):
            name, eq, inline = token.partition("=")
            option, _ = _resolve_long(name, grammar)
            value: str | None = inline if eq else None
            takes_value = (
                option in grammar.value_options
                or grammar.sources.get(option, False)
                or option in grammar.files
            )
            if takes_value and not eq and index < len(tokens):
                value = tokens[index]
                index += 1
            if option in grammar.sources:
                yield _Found(option, token if not eq else name, value, where)
            elif option in grammar.files and value is not None:
                yield FileRef(value, grammar.files[option], where)
            continue
        if token.startswith("-") and len(token) > 1:
            for offset, char in enumerate(token[1:], start=2):
                if char not in grammar.short_values:
                    continue
                value = token[offset:] or None
                if value is None and index < len(tokens):
                    value = tokens[index]
                    index += 1
                if char in grammar.short_sources:
                    yield _Found(grammar.short_sources[char], f"-{char}", value, where)
                elif char in grammar.short_files and value is not None:
                    yield FileRef(value, grammar.short_files[char], where)
                break
            continue
        yield token


def _refuse(found: _Found) -> RefusedError:
    why = _WHY.get(found.option, "adds a package source")
    spelled = found.spelled
    if spelled != found.option and not spelled.startswith(found.option):
        spelled = f"{spelled} (read by pip as {found.option})"
    shown = f" {redact(found.value)}" if found.value else ""
    return RefusedError(
        f"refused: {found.where}: {spelled}{shown} {why}.\n"
        "wrap makes the profile's index the only package source. Remove the option, choose "
        "another profile with PIPWRAP_PROFILE=NAME, or run the command without wrap if you "
        "mean it."
    )


def check(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """Raise RefusedError if running ``argv`` under wrap could use a second source."""
    invocation = classify(argv)
    if invocation is None:
        return
    grammar = _PIP if invocation.tool == "pip" else _UV
    files: list[FileRef] = []
    positionals: list[str] = []
    problems: list[_Found] = []
    for item in _scan_tokens(invocation.args, grammar, "command line"):
        if isinstance(item, _Found):
            problems.append(item)
        elif isinstance(item, FileRef):
            files.append(item)
        else:
            positionals.append(item)
    if invocation.tool == "pip":
        subcommand = positionals[0] if positionals else None
        if subcommand not in _PIP_FETCHING:
            return
        files += config_files_to_scan(environ)
    if problems:
        raise _refuse(problems[0])
    scan_files(files, environ)


def scan_files(refs: Sequence[FileRef], environ: Mapping[str, str]) -> None:
    """Raise RefusedError if any file (or one it includes) adds a package source."""
    seen: set[str] = set()
    for ref in refs:
        _scan_file(ref, Path.cwd(), environ, seen)


def config_files_to_scan(environ: Mapping[str, str]) -> list[FileRef]:
    """Requirement/constraint files named by PIP_* variables or pip config files."""
    from pipwrap import pipconfig

    refs: list[FileRef] = []
    for setting in pipconfig.settings(environ):
        kind = {"constraint": "constraint", "requirement": "requirement",
                "build-constraint": "constraint"}.get(setting.key)
        if kind is None:
            continue
        refs += [FileRef(path, kind, setting.source) for path in setting.value.split()]
    return refs


def config_sources_need_scan(environ: Mapping[str, str]) -> bool:
    """Whether every pip command must go through the Python check (files to follow)."""
    return bool(config_files_to_scan(environ))


def _local_path(reference: str, base: Path) -> Path | None:
    """The file a requirement reference names, or None for a remote URL."""
    parts = urlsplit(reference)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme in ("http", "https"):
        return None
    return base / reference


def _scan_file(ref: FileRef, base: Path, environ: Mapping[str, str], seen: set[str]) -> None:
    path = _local_path(ref.path, base)
    if path is None:
        raise RefusedError(
            f"refused: {ref.origin}: {ref.kind} file {redact(ref.path)} is remote; pipwrap "
            "cannot check it for extra package sources before pip reads it. Download it and "
            "pass the local copy."
        )
    key = str(path.resolve()) if path.exists() else str(path)
    if key in seen:
        return
    seen.add(key)
    try:
        content = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return  # a missing or unreadable file is pip's to report
    for number, line in _logical_lines(content, environ):
        options = _options_part(line)
        if not options:
            continue
        try:
            tokens = shlex.split(options, posix=True)
        except ValueError:
            tokens = options.split()
        where = f"{ref.path if not Path(ref.path).is_absolute() else path}:{number}"
        if ref.origin != "command line":
            where = f"{where} (via {ref.origin})"
        for item in _scan_tokens(tokens, _REQ, where):
            if isinstance(item, _Found):
                raise _refuse(item)
            if isinstance(item, FileRef):
                nested = FileRef(item.path, item.kind, where)
                _scan_file(nested, path.parent, environ, seen)


def _logical_lines(content: str, environ: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    """pip's preprocess(): join backslash continuations, drop comments, expand ${VAR}."""
    joined: list[str] = []
    first = 0
    pending: list[tuple[int, str]] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.endswith("\\") or _COMMENT.match(line):
            if _COMMENT.match(line):
                line = " " + line
            if joined:
                joined.append(line)
                pending.append((first, "".join(joined)))
                joined = []
            else:
                pending.append((number, line))
        else:
            if not joined:
                first = number
            joined.append(line.strip("\\"))
    if joined:
        pending.append((first, "".join(joined)))
    for number, line in pending:
        line = _COMMENT.sub("", line).strip()
        if not line:
            continue
        for whole, name in _ENV_VAR.findall(line):
            value = environ.get(name)
            if value:
                line = line.replace(whole, value)
        yield number, line


def _options_part(line: str) -> str:
    """pip's break_args_options(): options start at the first token beginning with '-'."""
    tokens = line.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[index:])
    return ""
