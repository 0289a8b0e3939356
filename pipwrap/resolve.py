"""Which profile the next wrapped command uses, and why."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipwrap import config as config_mod
from pipwrap.config import Config, Profile
from pipwrap.errors import PipwrapError
from pipwrap.state import Watched

PROFILE_ENV = "PIPWRAP_PROFILE"
# Set by the shell function for `pipwrap use NAME`; lives only in that shell.
SHELL_PROFILE_ENV = "PIPWRAP_SHELL_PROFILE"


@dataclass(frozen=True)
class Resolution:
    config: Config
    profile: Profile
    reason: str
    # Files whose change must make the shell resolve again (besides the config itself).
    watched: tuple[Watched, ...] = field(default_factory=tuple)


def resolve(
    explicit: str | None = None,
    environ: Mapping[str, str] | None = None,
    config: Config | None = None,
) -> Resolution:
    """``config``: the already loaded config, so callers that need it too read it once."""
    env = os.environ if environ is None else environ
    cfg = config_mod.load(config_mod.config_path(env)) if config is None else config
    if explicit:
        return Resolution(cfg, cfg.profile(explicit, origin="--profile"), "--profile")
    from_env = env.get(PROFILE_ENV)
    if from_env:
        return Resolution(
            cfg, cfg.profile(from_env, origin=PROFILE_ENV), f"{PROFILE_ENV}={from_env}"
        )
    from_shell = env.get(SHELL_PROFILE_ENV)
    if from_shell:
        return Resolution(
            cfg, cfg.profile(from_shell, origin="pipwrap use"), "chosen with `pipwrap use`"
        )
    from pipwrap import dirfile

    here = Path(env.get("PWD") or Path.cwd())
    try:
        same = here.samefile(Path.cwd())
    except OSError:
        same = False
    found = dirfile.find(here if same else Path.cwd(), env)
    if found is not None:
        return Resolution(
            cfg,
            cfg.profile(found.profile, origin=str(found.path)),
            f"directory file {found.path} (allowed)",
            watched=found.watched,
        )
    if cfg.default is None:
        known = ", ".join(sorted(cfg.profiles)) or "(none)"
        raise PipwrapError(
            f"no profile chosen: {cfg.path} sets no 'default' and {PROFILE_ENV} is not set; "
            f"known profiles: {known}"
        )
    return Resolution(cfg, cfg.profile(cfg.default), f"default in {cfg.path}")
