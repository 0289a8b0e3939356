"""The words of a profile's source rules (``reserved``, ``cooldown``, ``cooldown-exempt``):
how a duration is read and how a name matches a pattern.

Shared by the config's validation (``profiles``) and their enforcement (``fence``), so a
value the config accepts is read the same way where it is used. Pure, stdlib only.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

_UNITS = {"day": 86400, "days": 86400, "hour": 3600, "hours": 3600}
_PLAIN = re.compile(r"\s*(\d+)\s*([a-z]+)\s*")
# ISO 8601 durations without years or months (their length varies): P7D, PT12H, P1W, P1DT6H.
_ISO = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_PATTERN = re.compile(r"[a-z0-9*?\[\]!-]+")


def normalize_name(name: str) -> str:
    """PEP 503."""
    return re.sub(r"[-_.]+", "-", name).lower()


def duration_seconds(text: str) -> int | None:
    """Seconds in "N days", "N hours" or an ISO 8601 duration ("P7D", "PT12H"); None when
    ``text`` is none of these or is not longer than zero."""
    plain = _PLAIN.fullmatch(text.lower())
    if plain and plain.group(2) in _UNITS:
        seconds = int(plain.group(1)) * _UNITS[plain.group(2)]
        return seconds or None
    iso = _ISO.fullmatch(text.strip().upper())
    if iso and text.strip().upper() not in ("P", "PT") and not text.strip().upper().endswith("T"):
        weeks, days, hours, minutes, secs = (int(g or 0) for g in iso.groups())
        seconds = (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + secs
        return seconds or None
    return None


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a name pattern, or None. Patterns are matched against
    PEP 503-normalized names, so one that is not itself normalized would never match."""
    if not pattern:
        return "is empty"
    if pattern != normalize_name(pattern):
        return f"{pattern!r} is not PEP 503-normalized; write {normalize_name(pattern)!r}"
    if not _PATTERN.fullmatch(pattern):
        return (f"{pattern!r} holds a character no normalized name has (use letters, "
                "digits, '-' and the fnmatch wildcards * ? [...])")
    return None


def matches(name: str, patterns: tuple[str, ...] | list[str]) -> str | None:
    """The first pattern the normalized ``name`` matches, or None."""
    normalized = normalize_name(name)
    return next((p for p in patterns if fnmatchcase(normalized, p)), None)


def iso_duration(seconds: int) -> str:
    """``seconds`` as ISO 8601 ("P7D", "PT12H"), the form pip's --uploaded-prior-to takes."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
