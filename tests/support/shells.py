"""Run scripts in real interactive bash, zsh and fish with pipwrap's snippet loaded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHELLS = ("bash", "zsh", "fish")
POSIX = ("bash", "zsh")


def isolated_env(home: Path, path_prefix: list[Path] | None = None) -> dict[str, str]:
    """A clean environment: own HOME and XDG dirs, no PIP_*/UV_* from the developer."""
    system_path = "/usr/local/bin:/usr/bin:/bin"
    path = os.pathsep.join([*(str(p) for p in path_prefix or []), system_path])
    env = {
        "PATH": path,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_CONFIG_DIRS": str(home / "etc-xdg"),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "HISTFILE": str(home / ".history"),
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "PIPWRAP_CONFIG": str(home / ".config/pipwrap/config.toml"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        # Each test has its own HOME, hence its own fence agent: let it go soon after.
        "PIPWRAP_FENCE_IDLE": "1",
        "PIPWRAP_FENCE_MAX_IDLE": "30",
    }
    for sub in (".config", ".cache", "etc-xdg", "run"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    return env


def init_line(shell: str, how: str = "init") -> str:
    """The line a user puts in their rc file."""
    python = sys.executable
    if how == "checkout":
        if shell == "fish":
            return f"source {REPO}/shell/init.fish"
        return f"source '{REPO}/shell/init.sh'"
    if shell == "fish":
        return f"'{python}' -m pipwrap init fish | source"
    return f"eval \"$('{python}' -m pipwrap init {shell})\""


def argv_for(shell: str, home: Path, script: str, how: str = "init") -> list[str]:
    rc_dir = home / f".rc-{shell}"
    rc_dir.mkdir(exist_ok=True)
    line = init_line(shell, how)
    # Sourced from a file, the script is read a command at a time as at a prompt, so an
    # alias defined on one line applies on the next (a -c string is parsed whole).
    script_file = rc_dir / "script"
    script_file.write_text(script + "\n")
    script = f"source '{script_file}'"
    if shell == "bash":
        rc = rc_dir / "bashrc"
        rc.write_text(line + "\n")
        return ["bash", "--noprofile", "--rcfile", str(rc), "-i", "-c", script]
    if shell == "zsh":
        (rc_dir / ".zshrc").write_text(line + "\n")
        return ["zsh", "-i", "-c", script]
    return ["fish", "--no-config", "--init-command", line, "-c", script]


def run(
    shell: str,
    script: str,
    env: Mapping[str, str],
    *,
    how: str = "init",
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    home = Path(env["HOME"])
    full_env = dict(env)
    if how == "checkout":
        full_env["PIPWRAP_PYTHON"] = sys.executable
    if shell == "zsh":
        full_env["ZDOTDIR"] = str(home / ".rc-zsh")
    argv = argv_for(shell, home, script, how)
    assert shutil.which(argv[0], path=full_env["PATH"]), f"{argv[0]} is not installed"
    return subprocess.run(argv, env=full_env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def interactive(argv: list[str], env: Mapping[str, str], keys: list[tuple[str, float]]) -> str:
    """Run ``argv`` on a pseudo-terminal, typing each text and reading for its seconds."""
    import os
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - child
        os.execvpe(argv[0], argv, env)
    output = b""
    try:
        for text, wait in keys:
            os.write(fd, text.encode())
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if ready:
                    try:
                        output += os.read(fd, 4096)
                    except OSError:
                        break
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return output.decode(errors="replace")
