"""How each shell spells quoting, assignment and export: one class per shell family.

Everything that reaches ``eval`` in a user's shell passes through :meth:`Dialect.quote`,
so a profile name, URL or path can never be read as shell syntax.
"""

from __future__ import annotations

from collections.abc import Iterable


class Dialect:
    """bash and zsh: POSIX single quotes, arrays as ``name=(...)``."""

    name = "bash"
    #: The template file of this shell's ``wrap`` snippet (under ``templates/``).
    snippet = "bash.sh"

    def quote(self, value: str) -> str:
        return "'" + value.replace("'", "'\\''") + "'"

    def assign(self, name: str, value: str) -> str:
        return f"{name}={self.quote(value)}"

    def assign_list(self, name: str, values: Iterable[str]) -> str:
        return f"{name}=({' '.join(self.quote(v) for v in values)})"

    def export(self, name: str, value: str) -> str:
        return f"export {name}={self.quote(value)}"

    #: Characters a ``case`` pattern reads as pattern syntax, escaped in literal words.
    pattern_specials = "[]*?()|\\ "
    pattern_separator = " | "

    def case_patterns(self, globs: Iterable[str] = (), literals: Iterable[str] = ()) -> str:
        """One ``case`` branch's patterns: ``globs`` as they are, ``literals`` matched as
        plain words."""
        words = list(globs)
        for word in literals:
            words.append("".join("\\" + c if c in self.pattern_specials else c
                                 for c in word))
        return self.pattern_separator.join(words)


class Zsh(Dialect):
    name = "zsh"
    snippet = "zsh.zsh"
    pattern_specials = "[]*?()|\\ #^~<>"
    pattern_separator = "|"


class Fish(Dialect):
    """fish: backslash escapes inside single quotes, ``set -g`` for globals."""

    name = "fish"
    snippet = "fish.fish"

    def quote(self, value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def assign(self, name: str, value: str) -> str:
        return f"set -g {name} {self.quote(value)}"

    def assign_list(self, name: str, values: Iterable[str]) -> str:
        return f"set -g {name} {' '.join(self.quote(v) for v in values)}".rstrip()

    def export(self, name: str, value: str) -> str:
        return f"set -gx {name} {self.quote(value)}"

    def case_patterns(self, globs: Iterable[str] = (), literals: Iterable[str] = ()) -> str:
        # fish's `case` matches its (quoted) words as wildcard patterns itself; the
        # literal words pipwrap passes hold no `*` or `?`.
        return " ".join(self.quote(word) for word in [*globs, *literals])


_DIALECTS: dict[str, Dialect] = {"bash": Dialect(), "zsh": Zsh(), "fish": Fish()}
SHELLS = tuple(_DIALECTS)


def dialect(shell: str) -> Dialect:
    return _DIALECTS[shell]


def quote(shell: str, value: str) -> str:
    return dialect(shell).quote(value)
