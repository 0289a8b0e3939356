"""Requirement and constraint files, read exactly as pip reads them.

pip decodes the bytes (a byte-order mark, else a PEP 263 ``coding:`` line in the first two
lines, else UTF-8 or the locale's encoding: the order differs between pip 23 and 26, so
every decoding a supported pip could choose is scanned), joins backslash continuations,
drops comments, expands ``${VAR}`` from the environment, splits each line into a
requirement and options, and parses the options with its own optparse table. Nested
``-r``/``-c`` are relative to the including file.
"""

from __future__ import annotations

import codecs
import os
import re
import shlex
from collections.abc import Iterator, Mapping

from pipwrap.guard.context import Context
from pipwrap.guard.optparse_model import ParseError, parse

# A file larger than this is not a requirement file anyone writes by hand; reading it
# whole could hang the shell.
MAX_BYTES = 16 * 1024 * 1024

_SCHEME = re.compile(r"^(http|https|file):", re.IGNORECASE)
_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"(?P<var>\$\{(?P<name>[A-Z0-9_]+)\})")
_CODING = re.compile(rb"coding[:=]\s*([-\w.]+)")

# pip 23-25 tried UTF-16 before UTF-32 (so UTF-32-LE read as UTF-16); pip 26 fixed the order.
_BOMS_OLD = [
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF32, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
]
_BOMS_NEW = [
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
]


def _declared(data: bytes, boms: list[tuple[bytes, str]]) -> str | None:
    for bom, encoding in boms:
        if data.startswith(bom):
            return data[len(bom):].decode(encoding)
    for line in data.split(b"\n")[:2]:
        found = _CODING.search(line) if line[:1] == b"#" else None
        if found is not None:
            return data.decode(found.group(1).decode("ascii"))
    return None


def decodings(data: bytes) -> list[str]:
    """Every text a supported pip could read from ``data`` (usually exactly one)."""
    import locale

    found: list[str] = []
    locale_encoding = locale.getpreferredencoding(False) or "utf-8"
    # pip 23-25: BOM (old order), coding line, locale. pip 26: BOM, coding, UTF-8, locale.
    for boms, fallback in ((_BOMS_OLD, locale_encoding), (_BOMS_NEW, "utf-8"),
                           (_BOMS_NEW, locale_encoding)):
        try:
            text = _declared(data, boms)
            if text is None:
                text = data.decode(fallback)
        except (UnicodeDecodeError, LookupError):
            continue
        if text not in found:
            found.append(text)
    return found


def logical_lines(content: str, environ: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    """pip's preprocess(): join continuations, drop comments, expand ${VAR}."""
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


def split_line(line: str) -> tuple[str, str]:
    """pip's break_args_options(): (requirement part, options part)."""
    tokens = line.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:index]), " ".join(tokens[index:])
    return line, ""


def _local_path(reference: str, base: str | None) -> str | None:
    """The file a reference names (relative to ``base``), or None for a remote URL."""
    if _SCHEME.match(reference):
        from urllib.parse import unquote, urlsplit

        try:
            parts = urlsplit(reference)
        except ValueError:  # not a URL pip can read: refused as remote, not a traceback
            return None
        if parts.scheme.lower() != "file":
            return None
        return unquote(parts.path)
    if base is not None and not os.path.isabs(reference):
        return os.path.join(base, reference)
    return reference


def scan(reference: str, kind: str, origin: str, ctx: Context, base: str | None = None) -> None:
    """Refuse if the requirement/constraint file ``reference`` (or one it includes) adds
    a package source or a download from outside the profile's index."""
    path = _local_path(reference, base if base is not None else ctx.cwd)
    if path is None:
        ctx.refuse(origin, f"{kind} file {reference}", "is remote; pipwrap cannot check it "
                   "for extra package sources before pip reads it. Download it and pass the "
                   "local copy")
    if not ctx.first_visit(path):
        return
    data = ctx.read_file(path, origin)
    if data is None:
        return
    texts = decodings(data)
    if not texts:
        ctx.refuse(origin, f"{kind} file {reference}", "cannot be decoded the way pip would "
                   "read it; save it as UTF-8")
    shown = reference if not os.path.isabs(reference) else path
    for text in texts:
        _scan_text(text, shown, path, origin, ctx)


def _scan_text(text: str, shown: str, path: str, origin: str, ctx: Context) -> None:
    from pipwrap.guard import directref, pip

    for number, line in logical_lines(text, ctx.environ):
        where = f"{shown}:{number}"
        if origin != "command line":
            where = f"{where} (via {origin})"
        requirement, options = split_line(line)
        if requirement:
            directref.check_requirement(requirement, where, ctx)
        if not options:
            continue
        try:
            tokens = shlex.split(options)
        except ValueError:
            ctx.refuse(where, options, "has unbalanced quotes; pip's reading of it cannot "
                       "be predicted")
        readings = []
        for version in pip.VERSIONS:
            try:
                readings.append(parse(tokens, pip.table(version, "reqfile"))[0])
            except ParseError:
                continue
        if not readings:
            ctx.refuse(where, options, "holds an option no pip pipwrap knows accepts in a "
                       "requirement file; a newer pip might read it as a source")
        for events in readings:
            for event in events:
                if event.option is None:
                    continue
                dest = event.option.dest
                if dest in pip.FILES and event.value is not None:
                    nested_kind = "constraint" if dest == "constraints" else "requirement"
                    scan(event.value, nested_kind, where, ctx, base=os.path.dirname(path))
                else:
                    pip.judge_option(event, ctx, where)
