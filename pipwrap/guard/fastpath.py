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

Where the session's network isolation is in force (the command runs in the fence's
namespace, whose one way out is the fence), the guard is the early, clear refusal rather
than the last line, and the shell also skips it for:

- plain pip's harmless options that take a value (``install --target DIR``), after the
  subcommand, and requirements with extras and version specifiers (``foo[x]>=1,<2``);
- ``uv pip install`` whose every word is a uv flag that names no source, a harmless uv
  option with its value, or such a requirement.
"""

from __future__ import annotations

from pipwrap.guard import launchers, pip, uv
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
# A requirement that is a name, optional extras and optional version specifiers, nothing
# else (no URL, no path, no marker): the guard's directref reads such a word as a name it
# leaves to the index. POSIX ERE, read alike by bash, zsh and fish (PCRE); group 1 is
# the name, which the shell also tests as a path (pip installs an existing directory).
_SPECIFIER = r"(===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9.*+!_-]+"
REQUIREMENT_REGEX = (rf"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9._,-]*\])?"
                     rf"({_SPECIFIER}(,{_SPECIFIER})*)?$")
# The uv command whose plain forms the shell may let through under isolation.
UV_FAST_COMMAND = "pip install"


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


def _harmless_words(tables: list[Table], valued: bool) -> set[str]:
    """Words that every one of ``tables`` defines as a harmless option, taking a value
    (``valued``) or not."""
    found: set[str] | None = None
    for table in tables:
        spelled = [*table.long.items(),
                   *((f"-{letter}", option) for letter, option in table.short.items())]
        safe = {word for word, option in spelled
                if option.takes_value == valued and option.dest in pip.HARMLESS}
        found = safe if found is None else found & safe
    return found or set()


def _harmless_flags(tables: list[Table]) -> set[str]:
    """Words that every one of ``tables`` defines as a flag (no value) with a harmless
    meaning."""
    return _with_repeats(_harmless_words(tables, valued=False))


def _with_repeats(flags: set[str]) -> set[str]:
    # Repeated verbosity letters, as people type them (-qq, -vvv).
    for letter in ("q", "v"):
        if f"-{letter}" in flags:
            flags |= {"-" + letter * 2, "-" + letter * 3}
    return flags


def _valued_globs(words: set[str]) -> set[str]:
    """An option followed by its value, and a long one with ``=VALUE`` attached."""
    return words | {f"{word}=*" for word in words if word.startswith("--")}


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


def harmless_pip_valued() -> list[str]:
    """``SUBCOMMAND:OPTION`` globs for pip's harmless options that take a value, as
    :func:`harmless_pip_flags` (``*:`` for the general ones). The shell lets them through
    only under isolation and only after the subcommand: before it, pip takes the
    subcommand's name out of the line by its first occurrence, which may be a value."""
    general = _harmless_words([pip.table(v, "general") for v in pip.VERSIONS], valued=True)
    patterns = {f"*:{glob}" for glob in _valued_globs(general)}
    subcommands = sorted({name for v in pip.VERSIONS for name in pip.commands(v)})
    for name in subcommands:
        tables = [pip.table(v, name) for v in pip.VERSIONS if name in pip.commands(v)]
        own = _harmless_words(tables, valued=True) - general
        patterns |= {f"{name}:{glob}" for glob in _valued_globs(own)}
    return sorted(patterns)


def _uv_options(valued: bool) -> set[str]:
    """The spellings uv lists for ``uv pip install`` (its own options and the global
    ones) that the guard reads as naming no package source: flags whose long name is not
    a source, or options with a value the guard classifies as harmless."""
    longs, shorts = uv._scope(UV_FAST_COMMAND)
    words = set(longs) | {f"-{letter}" for letter in shorts}
    found = set()
    for word in words:
        reading = uv._lookup(UV_FAST_COMMAND, word)
        if reading is None or reading[1] != valued:
            continue
        canonical = reading[0]
        if canonical in uv.SOURCE:
            continue
        if valued and canonical not in uv.HARMLESS:
            continue
        found.add(word)
    return found


def uv_install_flags() -> list[str]:
    """Words ``uv pip install`` may carry on the fast path that take no value."""
    return sorted(_with_repeats(_uv_options(valued=False)))


def uv_install_valued() -> list[str]:
    """Globs for ``uv pip install``'s harmless options with a value (``--target`` and the
    next word, or ``--target=DIR``)."""
    return sorted(_valued_globs(_uv_options(valued=True)))
