"""Every ``pipwrap`` subcommand in one table, as pip's ``commands_dict``.

A command's module is imported only when that command runs (or when the whole parser is
needed, for ``--help`` and completion), so ``pipwrap list`` does not pay for ``doctor``.
Each module in :mod:`pipwrap.commands` has ``add_arguments(parser, name)`` and
``run(args) -> int``; a module may serve a family of commands (``args.command`` says which).
"""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    module: str  # under pipwrap.commands
    summary: str  # the line `pipwrap --help` shows
    aliases: tuple[str, ...] = ()
    hidden: bool = False  # internal: not in help, suggestions or completion
    takes_profile: bool = False  # completion offers profile names as its argument


# In the order `pipwrap --help` lists them.
COMMANDS: dict[str, Command] = {
    "init": Command("init", "print the shell code that defines `wrap`"),
    "env": Command("env", "print the environment a wrapped command gets"),
    "run": Command("run", "run a command with the profile's environment"),
    "check": Command("check", "check a command for extra package sources, without running it"),
    "doctor": Command("doctor", "show what pip would really use, and flag risks"),
    "_state": Command("state", "", hidden=True),
    "_names": Command("listing", "", hidden=True),
    "list": Command("listing", "list profiles", aliases=("ls",)),
    "show": Command("listing", "show one profile", takes_profile=True),
    "current": Command("listing", "which profile the next `wrap` uses here, and why"),
    "add": Command("profiles", "add a profile"),
    "set-url": Command("profiles", "change a profile's index URL, upload URL or CA file",
                          takes_profile=True),
    "remove": Command("profiles", "remove a profile", aliases=("rm",), takes_profile=True),
    "rename": Command("profiles", "rename a profile", takes_profile=True),
    "default": Command("profiles", "set the default profile", takes_profile=True),
    "use": Command("profiles", "choose a profile for this shell only (shell function)",
                   takes_profile=True),
    "login": Command("login", "store a profile's password in the system keyring",
                     takes_profile=True),
    "export": Command("export", "write a profile as uv, pip.conf, requirements or env settings",
                      takes_profile=True),
    "allow": Command("profiles", "trust the .pipwrap.toml here (records its hash)"),
    "deny": Command("profiles", "ignore the .pipwrap.toml here from now on"),
    "explain": Command("explain", "which of a profile's sources answers for a project, and why"),
    "test": Command("probe", "probe profiles' indexes in parallel", takes_profile=True),
    "edit": Command("config", "open config.toml in your editor, then check it"),
    "config": Command("config", "where the config is, what it holds, its JSON Schema"),
    "import": Command("config", "turn pip's own index settings into profiles"),
    "repo": Command("repo", "host your own packages: a tree with a complete static index"),
    "serve": Command("repo", "serve the repository, local-first with fallback"),
}

ALIASES: dict[str, str] = {alias: name for name, command in COMMANDS.items()
                           for alias in command.aliases}


def canonical(word: str) -> str | None:
    """The command a typed word names (an alias resolved), or None."""
    if word in COMMANDS:
        return word
    return ALIASES.get(word)


def public() -> list[str]:
    """Command names a user may be shown, sorted."""
    return sorted(name for name, command in COMMANDS.items() if not command.hidden)


def profile_commands() -> list[str]:
    """Commands whose positional argument is a profile name (aliases included)."""
    found: list[str] = []
    for name, command in COMMANDS.items():
        if command.takes_profile:
            found += [name, *command.aliases]
    return found
