"""What the shell may decide without starting Python, derived from the guard's own tables.

``wrap`` runs Python (``pipwrap check``) only when a command could need it. The lists the
shell uses for that choice are generated here, at ``pipwrap init`` time, from the same
tables the guard judges by, so the shell never keeps a weaker hand-made copy of the
guard's knowledge. Everything here errs one way: a command the shell lets through without
asking is one the guard would accept too (``tests/differential/test_shell_fastpath.py``
holds the shell against the guard over a corpus in bash, zsh and fish).

The shell skips the guard only for:

- a program the guard treats as inert (it prints or tests and starts nothing);
- plain pip (only the spellings below) whose every argument is a flag that takes no value
  and whose meaning is harmless in every pip we know, or a plain project name that is
  not an existing path;
- a binary program (not a script: the guard reads scripts) that no installer or launcher
  is known as, with no argument that looks like a package source.
"""

from __future__ import annotations

from pipwrap.guard import launchers, pip
from pipwrap.guard.optparse_model import Table

# Spellings of pip the shell treats as plain pip: every one matches the guard's own
# pattern (held by a test), so the shell never calls something pip that the guard reads
# as another program.
PIP_GLOBS = ("pip", "pip[0-9]", "pip[0-9].[0-9]", "pip[0-9].[0-9][0-9]")
# Names the guard reads as pip or as a Python interpreter, as shell globs. Wider than the
# guard's patterns on purpose: these names only send a command to the guard.
PIP_OR_PYTHON_GLOBS = ("pip*", "python*", "pypy*", "py")
# A program named like this is always read by the guard: scripts and Windows executables.
SCRIPT_GLOBS = ("*.sh", "*.exe", "*.EXE")
# In an argument of a program pipwrap cannot read, these may name a package source.
SOURCE_ARGUMENT_GLOBS = ("*://*", "-i*", "-f*")
def checked_programs() -> list[str]:
    """Programs whose command lines the guard always reads: installers, launchers,
    shells, and the commands that run others (``eval``, ``xargs``)."""
    names = {"uv", "uvx", "xargs", "eval"}
    names |= launchers.INSTALLERS | launchers.LAUNCHER_NAMES | launchers.SHELLS
    return sorted(names)


def inert_programs() -> list[str]:
    """Programs the guard lets through whatever their arguments."""
    return sorted(launchers.INERT)


def source_argument_globs() -> list[str]:
    """Globs for arguments that may give an unknown program a package source: every
    source word and every prefix (of the length the guard reads) of the source options."""
    globs = {f"*{word}*" for word in launchers.SOURCE_WORDS}
    globs |= {f"{option[:5]}*" for option in launchers.SOURCE_LONGS}
    return sorted(globs | set(SOURCE_ARGUMENT_GLOBS))


def _harmless_flags(tables: list[Table]) -> set[str]:
    """Words that every one of ``tables`` defines as a flag (no value) with a harmless
    meaning."""
    found: set[str] | None = None
    for table in tables:
        spelled = [*table.long.items(),
                   *((f"-{letter}", option) for letter, option in table.short.items())]
        safe = {word for word, option in spelled
                if not option.takes_value and option.dest in pip.HARMLESS}
        found = safe if found is None else found & safe
    flags = found or set()
    # Repeated verbosity letters, as people type them (-qq, -vvv).
    for letter in ("q", "v"):
        if f"-{letter}" in flags:
            flags |= {"-" + letter * 2, "-" + letter * 3}
    return flags


def harmless_pip_flags() -> list[str]:
    """``SUBCOMMAND:FLAG`` globs for the flags pip's fast path may let through: a general
    flag (``*:--quiet``, before or after the subcommand) that every pip we know defines
    as harmless, or one that every pip knowing that subcommand defines as harmless there.
    The shell matches ``SUBCOMMAND:WORD``, the subcommand being empty before it comes."""
    general = _harmless_flags([pip.table(v, "general") for v in pip.VERSIONS]) | {"--"}
    patterns = {f"*:{flag}" for flag in general}
    subcommands = sorted({name for v in pip.VERSIONS for name in pip.commands(v)})
    for name in subcommands:
        tables = [pip.table(v, name) for v in pip.VERSIONS if name in pip.commands(v)]
        patterns |= {f"{name}:{flag}" for flag in _harmless_flags(tables) - general}
    return sorted(patterns)
