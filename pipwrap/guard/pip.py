"""pip's command line, read as every supported pip reads it.

Each pip version in :mod:`pipwrap.guard.pip_table` parses the arguments on its own; the
command is refused if *any* version that accepts the line would take a second source,
and also when no known version accepts it at all (a newer pip might, and we cannot say
what it would do). What each option does is decided here by its optparse ``dest``; a
dest this module has not classified is refused, so a new pip option cannot slip by.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from pipwrap.guard import pip_table
from pipwrap.guard.context import Context
from pipwrap.guard.optparse_model import Event, Option, ParseError, Table, parse

# What each option does, by dest. The differential test requires every dest of every
# supported pip to be listed here.
SOURCE = {
    "index_url": "replaces the profile's index for this command",
    "extra_index_urls": "adds a second package index: pip would take the highest version "
    "from either index (dependency confusion)",
    "find_links": "adds a second package source (a directory or page of archives)",
    "trusted_hosts": "turns off TLS verification and lets an http:// source in",
    "isolated_mode": "makes pip ignore the environment, and with it the profile's index",
    "index": "names another package index",
    # pip 26 reads an empty --proxy as "no proxy at all"; any other value is a proxy the
    # fence does not control. Either way pip's downloads would go past the fence.
    "proxy": "sends pip's downloads past pipwrap's fence (an empty value turns every "
    "proxy off), so nothing would hold it to the profile's index",
}
FILES = {
    "requirements": "requirement",
    "constraints": "constraint",
    "build_constraints": "constraint",
}
# Values that are themselves requirements (direct references must come from the index).
REQUIREMENT_VALUES = frozenset({"editables"})
# pip reads these files for requirements of its own kind.
SCRIPT_VALUES = frozenset({"requirements_from_scripts"})
GROUP_VALUES = frozenset({"dependency_groups"})
HARMLESS = frozenset(
    """abis algorithm build_isolation build_options cache_dir cert check_build_deps
    client_cert compile config_settings debug_mode deprecated_features_enabled
    disable_pip_version_check download_dir dry_run editable editor exclude_editable
    excludes exists_action features_enabled files force_reinstall format_control freeze_all
    global_file global_options hashes help ignore_dependencies ignore_installed
    ignore_requires_python implementation include_editable json json_report_file
    keyring_provider list_format local log no_clean no_color no_index no_input no_proxy_env
    no_python_version_warning no_require_hashes no_verify not_required only_dependencies
    outdated output_file override_externally_managed path platforms pre prefer_binary
    prefix_path progress_bar python python_version quiet refresh_package
    release_control require_hashes require_venv resume_retries retries root_path
    root_user_action shell site_file src_dir target_dir timeout upgrade upgrade_strategy
    uploaded_prior_to uptodate use_pep517 use_user_site user user_file verbose version
    warn_about_conflicts warn_script_location wheel_dir yes""".split()
)
# Subcommands that download packages or read index pages. `pip list --outdated` only
# compares versions and installs nothing.
FETCHING = frozenset({"install", "download", "wheel", "lock", "index"})


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


VERSIONS = tuple(sorted(pip_table.VERSIONS, key=_version_key))


def _options(indexes: Sequence[int]) -> list[Option]:
    return [Option(*pip_table.OPTIONS[i]) for i in indexes]


@cache
def table(version: str, scope: str) -> Table:
    """The options pip ``version`` accepts in ``scope``: "general" (the main parser, before
    the subcommand), "reqfile", or a subcommand's whole parser."""
    entry = pip_table.VERSIONS[version]
    if scope in ("general", "reqfile"):
        return Table(_options(entry[scope]))
    return Table(_options(entry["commands"][scope]))


@cache
def commands(version: str) -> frozenset[str]:
    return frozenset(pip_table.VERSIONS[version]["commands"])


def harmless_env_option(name: str) -> bool:
    """Whether a ``PIP_*`` variable read as ``--name`` is harmless in every known pip
    (an option no pip knows is not harmless: a newer pip may read it)."""
    dests = set()
    for version in VERSIONS:
        for scope in ("general", *commands(version)):
            option = table(version, scope).long.get("--" + name)
            if option is not None:
                dests.add(option.dest)
    return bool(dests) and dests <= HARMLESS


class Parsed:
    """One pip version's reading of a command line."""

    def __init__(self, version: str, subcommand: str | None, events: list[Event]) -> None:
        self.version = version
        self.subcommand = subcommand
        self.events = events


def parse_command(version: str, args: Sequence[str]) -> Parsed:
    """As pip's main(): general options up to the subcommand, then the subcommand's
    parser over the whole line with the subcommand's name taken out once."""
    general, rest = parse(args, table(version, "general"), interspersed=False)
    if not rest:
        return Parsed(version, None, general)
    name = rest[0]
    scope = name if name in commands(version) else "install"
    if name not in commands(version) and any(name in commands(v) for v in VERSIONS):
        raise ParseError(f"pip {version} has no command {name}")
    remaining = list(args)
    remaining.remove(name)
    events, _ = parse(remaining, table(version, scope))
    return Parsed(version, name, events)


def check_args(
    args: Sequence[str], ctx: Context, where: str = "command line", *,
    subcommand: str | None = None, program: str = "pip",
) -> None:
    """Refuse ``pip ARGS`` (or, with ``subcommand``, options given to that subcommand, as
    in pipx's --pip-args) if any pip we know would take a second source from it."""
    parsed: list[Parsed] = []
    errors: list[str] = []
    for version in VERSIONS:
        try:
            if subcommand is None:
                parsed.append(parse_command(version, args))
            else:
                scope = subcommand if subcommand in commands(version) else "install"
                events, _ = parse(args, table(version, scope))
                parsed.append(Parsed(version, subcommand, events))
        except ParseError as exc:
            errors.append(str(exc))
    if not parsed:
        ctx.refuse(where, " ".join(args) or program,
                   f"is not a command line any pip pipwrap knows accepts ({errors[-1]}); "
                   "pipwrap cannot tell what a newer pip would do with it")
    for reading in parsed:
        _judge(reading, ctx, where, program)


def _judge(reading: Parsed, ctx: Context, where: str, program: str) -> None:
    # A subcommand no known pip has is judged as `install`: fail closed.
    if reading.subcommand is None or (
        reading.subcommand not in FETCHING and reading.subcommand in commands(reading.version)
    ):
        return
    from pipwrap.guard import directref

    for event in reading.events:
        if event.option is not None:
            judge_option(event, ctx, where, program)
        else:
            directref.check_requirement(event.spelled, where, ctx)


def judge_option(event: Event, ctx: Context, where: str, program: str = "pip") -> None:
    """Refuse one option pip has read, or follow the files and requirements it names."""
    if event.option is None:
        return
    dest = event.option.dest
    canonical = event.option.longs[0] if event.option.longs else event.spelled
    if dest in SOURCE:
        if dest in ("index_url", "extra_index_urls") and ctx.is_profile_index(event.value):
            return  # the profile's own index, as pip-compile writes it: not a second source
        spelled = event.spelled
        if spelled not in event.option.longs:
            spelled = f"{spelled} (read by {program} as {canonical})"
        shown = spelled if event.value is None else f"{spelled} {event.value or repr('')}"
        ctx.refuse(where, shown, SOURCE[dest])
    from pipwrap.guard import directref

    if dest in FILES and event.value is not None:
        ctx.scan_file(event.value, FILES[dest], where, ctx)
    elif dest in REQUIREMENT_VALUES and event.value is not None:
        directref.check_requirement(event.value, where, ctx)
    elif dest in SCRIPT_VALUES and event.value is not None:
        directref.check_script(event.value, where, ctx)
    elif dest in GROUP_VALUES and event.value is not None:
        directref.check_dependency_group(event.value, where, ctx)
    elif dest not in HARMLESS:
        ctx.refuse(where, event.spelled, f"is a pip option ({canonical}) pipwrap has not "
                   "classified; it cannot tell whether it adds a package source")
