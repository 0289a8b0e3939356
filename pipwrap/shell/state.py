"""The resolved state a shell caches so that `wrap` runs without starting Python.

The shell re-runs ``pipwrap _state`` only when its inputs change: the variables it keys
on (PIPWRAP_PROFILE, PIPWRAP_CONFIG, HOME, PWD, ...) or one of the watched files. A
file change is detected with builtin ``-nt``/``-ot`` tests against a stamp file that
carries the watched file's mtime as it was *before* it was read, so an edit racing with
the read is still seen on the next call. A watched file that did not exist gets an empty
stamp: it must still not exist.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipwrap import paths
from pipwrap.paths import Watched
from pipwrap.processes import alive
from pipwrap.profiles.model import Profile
from pipwrap.shell.dialect import dialect

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pipwrap.fence import Session
    from pipwrap.profiles.resolve import Resolution


def stamp_dir() -> Path:
    cache = Path(paths.private_dir(paths.user_cache_dir()))
    return Path(paths.private_dir(str(cache / "stamps")))


def _sweep(directory: Path, pid: int) -> None:
    for entry in directory.iterdir():
        owner, _, _ = entry.name.partition(".")
        if not owner.isdigit():
            continue
        if int(owner) == pid or not alive(int(owner)):
            with contextlib.suppress(OSError):
                entry.unlink()


def write_stamps(pid: int, watched: Sequence[Watched]) -> list[str]:
    """Return the flat (file, stamp) list for the shell's ``__pipwrap_watch``."""
    directory = stamp_dir()
    _sweep(directory, pid)
    flat: list[str] = []
    for index, item in enumerate(watched):
        flat.append(str(item.path))
        if item.mtime_ns is None:
            flat.append("")
            continue
        stamp = directory / f"{pid}.{index}"
        _place_stamp(stamp, item.mtime_ns)
        flat.append(str(stamp))
    return flat


def _place_stamp(stamp: Path, mtime_ns: int) -> None:
    """Write ``stamp`` with the watched file's mtime, whole or not at all. Two ``wrap``s
    started at once from one shell (``wrap a & wrap b &``: a subshell keeps ``$$``) write
    the same names and sweep each other's: a stamp made in place could vanish between its
    creation and its ``utime`` (a traceback). A stamp that is missing in the end only
    makes the shell ask ``pipwrap _state`` again: slower, never stale."""
    temporary = stamp.with_name(f"{stamp.name}.{os.getpid()}")
    for _attempt in range(3):
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.utime(descriptor, ns=(mtime_ns, mtime_ns))
            finally:
                os.close(descriptor)
            temporary.replace(stamp)
            return
        except FileNotFoundError:  # swept by the other wrap meanwhile: once more
            continue


def _fish_watch_test(flat: Sequence[str]) -> list[str]:
    """One ``test`` expression for every watched file: a builtin runs once per call instead
    of several commands per file (each fish command costs microseconds on every wrap)."""
    words = ["-n", "1"]  # true, so an empty watch list is fresh
    for path, stamp in zip(flat[0::2], flat[1::2]):
        # Never a word test could read as an operator ("!", "-a", "(").
        path = path if path.startswith("/") else f"./{path}"
        if not stamp:
            words += ["-a", "!", "-e", path]
        else:
            words += ["-a", "-e", stamp, "-a", "!", path, "-nt", stamp,
                      "-a", "!", path, "-ot", stamp]
    return words


# Variables of other tools that could send traffic around the fence or turn off what it
# relies on: removed for a wrapped command (the fence's own values are then set).
_AROUND_FENCE = frozenset({"GIT_CONFIG_PARAMETERS", "GIT_PROXY_COMMAND", "GIT_SSL_NO_VERIFY",
                           "GIT_SSL_CAPATH", "UV_SYSTEM_CERTS", "HTTPLIB2_CA_CERTS",
                           "AWS_CA_BUNDLE"})


def around_fence(environ: Mapping[str, str], child_env: Mapping[str, str],
                 password_env: str | None = None) -> list[str]:
    """Inherited names that must not reach a fenced command: every spelling of a proxy
    variable (Python's urllib lower-cases them all), git's other config and proxy
    variables, the user's own GIT_CONFIG_KEY_n/VALUE_n, and the profile's ``password-env``
    variable (the fence holds the login; the command must not hold the secret)."""
    found = []
    for name in environ:
        lower = name.lower()
        if name in child_env:
            continue
        if lower.endswith("_proxy") or name in _AROUND_FENCE or name == password_env or \
                name.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")):
            found.append(name)
    return sorted(found)


def pip_file_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """Harmless [global] settings of the user's pip files, as PIP_* variables: a wrapped
    pip reads no file (PIP_CONFIG_FILE=/dev/null), but keeps its timeout, retries,
    cache dir... A variable the user set wins (it is kept as it is)."""
    from pipwrap import pipconfig
    from pipwrap.guard import pip

    found: dict[str, str] = {}
    for layer in pipconfig.layers(environ):
        if not layer.is_file():
            continue
        for section, key, value in pipconfig.read_file(layer.path):
            if section != "global" or key in ("cert", "client-cert", "proxy"):
                continue
            name = "PIP_" + key.upper().replace("-", "_")
            if name not in environ and pip.harmless_env_option(key):
                found[name] = value
    return found


def resolve_watched(environ: Mapping[str, str], explicit: str | None = None,
                    ) -> tuple[Resolution, list[Watched]]:
    """The profile for ``environ`` and the files whose change can change it (the config,
    the directory files looked at), each stat'ed before it is read, so an edit racing
    with the read is seen next time. `wrap`'s shell resolves again when one changes; a
    `pipwrap env` session is refused (fence/session.py)."""
    from pipwrap.profiles import config as config_mod
    from pipwrap.profiles.resolve import resolve

    config_file = Watched.now(config_mod.config_path(environ))
    resolution = resolve(explicit, environ=environ)
    return resolution, [config_file, *resolution.watched]


def fenced_environment(profile: Profile, secret: str | None, environ: Mapping[str, str], *,
                       owner_pid: int, report: bool = True, isolation: str = "off",
                       made_from: Sequence[Watched] | None = None,
                       ) -> tuple[dict[str, str], Session]:
    """A wrapped command's variables with the fence's session in them, and the session
    (its agent's pid, its report file, how to enter its network namespace).
    ``made_from``: see :func:`pipwrap.fence.open_session`.

    Raises :class:`pipwrap.fence.FenceError` when the fence cannot be reached: the
    command must not run.
    """
    from pipwrap import fence
    from pipwrap.profiles import environment

    url, found_login = environment.login(profile, secret)
    session = fence.open_session(url, profile.upload_url, found_login, profile.ca_file,
                                 owner_pid=owner_pid, report=report, isolation=isolation,
                                 profile=profile.name,
                                 login_source=environment.login_source(profile),
                                 sources=environment.source_rules(profile),
                                 made_from=made_from)
    child_env = pip_file_settings(environ)
    child_env.update(environment.build(profile, secret))
    child_env.update(session.env_additions)
    return child_env, session


def inside_environment(child_env: dict[str, str], session: Session,
                       ) -> tuple[dict[str, str], dict[str, str]]:
    """(the variables of a command run inside the namespace, the ones a shell function or
    builtin gets instead: it runs in the shell, outside, where only the other token works).
    """
    if not session.enter or session.inside_additions is None:
        return child_env, {}
    inside = {**child_env, **session.inside_additions}
    return inside, {k: v for k, v in child_env.items() if inside.get(k) != v}


NOTICE_NAME = "isolation-notice"


def isolation_notice(profile: Profile, session: Session) -> str:
    """Said once per user and reason where isolation is "auto" and cannot be had."""
    if profile.isolation != "auto" or session.enter or not session.isolation_reason:
        return ""
    marker = stamp_dir().parent / NOTICE_NAME
    try:
        if marker.read_text(encoding="utf-8") == session.isolation_reason:
            return ""
    except OSError:
        pass
    with contextlib.suppress(OSError):
        marker.write_text(session.isolation_reason, encoding="utf-8")
    return (f"pipwrap: wrapped commands run without network isolation here: "
            f"{session.isolation_reason}. The fence still serves every tool that uses its "
            "proxy; a command that switches its proxy off is not stopped. Set isolation = "
            "\"required\" in the profile to refuse to run, or \"off\" to silence this "
            "(said once; `pipwrap doctor` shows it).\n")


def take_report(path: str | None) -> str:
    """The refusals the agent wrote for the command that just ended, and an empty file
    for the next one (as the shell's `wrap` does with builtins)."""
    if not path:
        return ""
    try:
        with Path(path).open("r+", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
            if text:
                handle.truncate(0)
    except OSError:
        return ""
    return text


def agent_gone_note(agent_pid: int) -> str:
    """What a command that failed hears when the fence's agent died while it ran."""
    if alive(agent_pid):
        return ""
    return (f"pipwrap: the fence agent exited during this command (pid {agent_pid}); its "
            "network requests failed. The next command starts a new agent.\n")


def render(shell: str, pid: int, environ: Mapping[str, str]) -> str:
    from pipwrap import guard, pipconfig
    from pipwrap.guard import scrub, uv_env
    from pipwrap.profiles import credentials

    # Stat before reading, so an edit racing with the read is seen next time.
    resolution, watched = resolve_watched(environ)
    watched += [Watched.now(str(path)) for path in pipconfig.watched_files(environ)]
    secret = credentials.password(resolution.profile, environ)
    child_env, session = fenced_environment(resolution.profile, secret.value, environ,
                                            owner_pid=pid,
                                            isolation=resolution.profile.isolation)
    notice = isolation_notice(resolution.profile, session)
    if notice:
        sys.stderr.write(notice)
    # The uv.toml pipwrap wrote for this profile: deleted (a cache clean-up), the shell
    # must resolve again and write it anew rather than hand uv a path that is gone.
    if "UV_CONFIG_FILE" in child_env:
        watched.append(Watched.now(child_env["UV_CONFIG_FILE"]))
    flat = write_stamps(pid, watched)
    # A file variable that is set but empty scans nothing today, but the shell's key holds
    # only variable names: a value given to it later must not slip past the fast path.
    scan_always = guard.config_sources_need_scan(environ) or any(
        scrub.pip_option_name(name) in scrub.PIP_FILE_OPTIONS or name in uv_env.FILES
        for name in environ)
    # Every other spelling of a source variable is removed for the call; the shell's key
    # holds the names of all PIP_*/UV_* variables, so a new one makes it ask again.
    unset = [name for name in scrub.unset_names(environ) if name not in child_env]
    unset += around_fence(environ, child_env, resolution.profile.password_env)
    child_env, in_shell = inside_environment(child_env, session)
    # A password-env secret lives in the user's variable; reading it again on every call
    # (instead of keeping a copy in the shell) is what makes a rotated secret take effect.
    refresh_always = "1" if resolution.profile.password_env else ""
    speak = dialect(shell)
    if shell == "fish":
        # fish spends tens of microseconds on each command substitution, so its snippet
        # gets parallel lists it can walk with plain builtins instead of splitting pairs.
        lines = [
            speak.assign_list("__pipwrap_env_names", list(child_env)),
            speak.assign_list("__pipwrap_env_values", list(child_env.values())),
            # One builtin per variable on each call: `set -fx NAMES[i] VALUES[i]`.
            speak.assign_list("__pipwrap_env_index",
                              [str(i) for i in range(1, len(child_env) + 1)]),
            speak.assign_list("__pipwrap_watch_test", _fish_watch_test(flat)),
            speak.assign_list("__pipwrap_shell_names", list(in_shell)),
            speak.assign_list("__pipwrap_shell_values", list(in_shell.values())),
            speak.assign_list("__pipwrap_shell_index",
                              [str(i) for i in range(1, len(in_shell) + 1)]),
        ]
    else:
        lines = [
            speak.assign_list("__pipwrap_env", [f"{k}={v}" for k, v in child_env.items()]),
            speak.assign_list("__pipwrap_watch", flat),
            speak.assign_list("__pipwrap_env_shell", [f"{k}={v}" for k, v in in_shell.items()]),
        ]
    lines += [
        speak.assign_list("__pipwrap_unset", unset),
        speak.assign("__pipwrap_refresh_always", refresh_always),
        speak.assign("__pipwrap_scan", "1" if scan_always else ""),
        speak.assign("__pipwrap_profile", resolution.profile.name),
        speak.assign("__pipwrap_expires", str(secret.expires or "")),
        # `wrap` checks with a builtin that the fence is still there before each command.
        speak.assign("__pipwrap_agent", str(session.agent_pid)),
        # ... and, after it, whether the agent wrote a refusal for it (one builtin test).
        speak.assign("__pipwrap_report", session.report_file or ""),
        # The command enters the fence's network namespace through this prefix (empty:
        # no namespace); a function or builtin cannot, and is refused when it is required.
        speak.assign_list("__pipwrap_enter", list(session.enter)),
        speak.assign("__pipwrap_isolation", resolution.profile.isolation),
    ]
    return "\n".join(lines) + "\n"
