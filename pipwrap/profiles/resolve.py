"""Which profile the next wrapped command uses, and why."""

from __future__ import annotations

import os

from pipwrap.errors import PipwrapError
from pipwrap.profiles import config as config_mod

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from pipwrap.paths import Watched
    from pipwrap.profiles.model import Config, Profile

PROFILE_ENV = "PIPWRAP_PROFILE"
# Set by the shell function for `pipwrap use NAME`; lives only in that shell.
SHELL_PROFILE_ENV = "PIPWRAP_SHELL_PROFILE"


class Resolution:
    __slots__ = ("config", "profile", "reason", "watched")

    def __init__(
        self, config: Config, profile: Profile, reason: str, watched: tuple[Watched, ...] = ()
    ) -> None:
        self.config = config
        self.profile = profile
        self.reason = reason
        # Files whose change must make the shell resolve again (besides the config itself).
        self.watched = watched


def resolve(
    explicit: str | None = None,
    environ: Mapping[str, str] | None = None,
    config: Config | None = None,
) -> Resolution:
    """``config``: the already loaded config, so callers that need it too read it once."""
    env = os.environ if environ is None else environ
    cfg = config_mod.load(config_mod.config_path(env), env) if config is None else config
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
    from pipwrap.profiles import dirfile

    found, watched = dirfile.find(_working_directory(env))
    if found is not None:
        return Resolution(
            cfg,
            cfg.profile(found.profile, origin=found.path),
            f"directory file {found.path} (allowed)",
            watched=watched,
        )
    if cfg.default is None:
        known = ", ".join(sorted(cfg.profiles)) or "(none)"
        raise PipwrapError(
            f"no profile chosen: {cfg.path} sets no 'default' and {PROFILE_ENV} is not set; "
            f"known profiles: {known}"
        )
    if cfg.default in cfg.builtin and not os.path.lexists(cfg.path):
        reason = f"built-in default (no config file at {cfg.path})"
    else:
        reason = f"default in {cfg.path}"
    return Resolution(cfg, cfg.profile(cfg.default), reason, watched=watched)


def _working_directory(env: Mapping[str, str]) -> str:
    # $PWD keeps the symlinked path the user cd'ed through, so a .pipwrap.toml above the
    # link applies; trust it only while it still names the real working directory.
    here = os.getcwd()
    logical = env.get("PWD", "")
    try:
        if os.path.isabs(logical) and os.path.samefile(logical, here):
            return logical
    except OSError:
        pass
    return here
