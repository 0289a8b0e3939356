"""optparse's reading of a command line, for one option table.

pip parses with optparse: ``--name=value`` or ``--name value``, any unambiguous prefix of
a long option, clustered short options where the first one taking a value swallows the
rest of the word (``-qiURL``). This module reproduces exactly that, so the guard sees
what pip sees; the differential tests hold it against the real pips.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Plain classes, not typing.NamedTuple: importing typing costs more than a whole check.


class Option:
    """One option as pip defines it: long names, short letters, dest, takes a value."""

    __slots__ = ("dest", "longs", "shorts", "takes_value")

    def __init__(self, longs: tuple[str, ...], shorts: str, dest: str,
                 takes_value: bool) -> None:
        self.longs = longs
        self.shorts = shorts
        self.dest = dest
        self.takes_value = takes_value

    def _key(self) -> tuple[tuple[str, ...], str, str, bool]:
        return (self.longs, self.shorts, self.dest, self.takes_value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Option) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Option{self._key()!r}"


class Event:
    """One word (or two) of a command line as optparse read it."""

    __slots__ = ("option", "spelled", "value")

    def __init__(self, option: Option | None, spelled: str, value: str | None) -> None:
        self.option = option  # None: a positional argument
        self.spelled = spelled  # as written: "--extra", "-i", or the positional itself
        self.value = value


class ParseError(Exception):
    """pip itself would reject this command line (unknown, ambiguous, missing value)."""


class Table:
    """One parser's options: what a version of pip accepts in one place."""

    def __init__(self, options: Iterable[Option]) -> None:
        self.long: dict[str, Option] = {}
        self.short: dict[str, Option] = {}
        for option in options:
            for name in option.longs:
                self.long.setdefault(name, option)
            for char in option.shorts:
                self.short.setdefault(char, option)

    def match_long(self, name: str) -> Option:
        """optparse's _match_abbrev: the exact name, else the one name it prefixes."""
        if name in self.long:
            return self.long[name]
        candidates = [n for n in self.long if n.startswith(name)]
        if len(candidates) == 1:
            return self.long[candidates[0]]
        if candidates:
            raise ParseError(f"{name} is ambiguous ({', '.join(sorted(candidates))})")
        raise ParseError(f"no such option: {name}")


def parse(
    tokens: Sequence[str], table: Table, *, interspersed: bool = True
) -> tuple[list[Event], list[str]]:
    """(events in order, the unparsed rest). Without ``interspersed`` parsing stops at
    the first positional, as pip's main parser does before the subcommand."""
    events: list[Event] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token == "--":
            if not interspersed:
                return events, list(tokens[index:])
            events += [Event(None, t, None) for t in tokens[index:]]
            return events, []
        if token.startswith("--"):
            name, eq, inline = token.partition("=")
            option = table.match_long(name)
            value: str | None = None
            if option.takes_value:
                if eq:
                    value = inline
                elif index < len(tokens):
                    value = tokens[index]
                    index += 1
                else:
                    raise ParseError(f"{name} requires a value")
            elif eq:
                raise ParseError(f"{name} takes no value")
            events.append(Event(option, name, value))
        elif token.startswith("-") and token != "-":
            for offset, char in enumerate(token[1:], start=2):
                found = table.short.get(char)
                if found is None:
                    raise ParseError(f"no such option: -{char}")
                if not found.takes_value:
                    events.append(Event(found, f"-{char}", None))
                    continue
                value = token[offset:]
                if not value:
                    if index >= len(tokens):
                        raise ParseError(f"-{char} requires a value")
                    value = tokens[index]
                    index += 1
                events.append(Event(found, f"-{char}", value))
                break
        else:
            if not interspersed:
                return events, list(tokens[index - 1 :])
            events.append(Event(None, token, None))
    return events, []
