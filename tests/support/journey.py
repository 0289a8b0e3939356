"""Running a journey: real bash, zsh and fish as a person has them, under a deadline.

A journey is judged only by what the person sees: the exit status, what is printed (stdout
and stderr together, as on a terminal) and what got installed. Every run has a timeout;
a hang is a failure that says what was printed so far, and the processes the journey
started (found by the journey's own HOME in their environment, so nothing else is ever
touched) are killed.

``run`` types a script into a shell (read line by line as at a prompt, the shell's
output a pipe, as ``$(...)`` or CI reads it); ``Terminal`` drives an interactive shell on
a pseudo-terminal, one command at a time, for the journeys where a terminal matters.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

SHELLS = ("bash", "zsh", "fish")
# After the shell exits, its output must reach EOF this soon: a process still holding the
# pipe (a fence agent keeping the caller's stderr) would hang a `$(...)` around it.
OUTPUT_GRACE = 5.0


def guarded_init_line(shell: str) -> str:
    """The line README tells a person to put in their rc file."""
    if shell == "fish":
        return "command -q pipwrap; and pipwrap init fish | source"
    return f'command -v pipwrap >/dev/null && eval "$(pipwrap init {shell})"'


def status_of(shell: str) -> str:
    return "$status" if shell == "fish" else "$?"


def shell_argv(shell: str, home: Path, script: Path | None = None,
               init: str | None = None) -> list[str]:
    """An interactive shell reading the person's rc file (the init line); with ``script``
    it sources that file (a line at a time, as typed) and exits."""
    line = guarded_init_line(shell) if init is None else init
    rc_dir = home / f".rc-{shell}"
    rc_dir.mkdir(parents=True, exist_ok=True)
    run = ["-c", f"source '{script}'"] if script else []
    if shell == "bash":
        (rc_dir / "bashrc").write_text(line + "\n")
        return ["bash", "--noprofile", "--rcfile", str(rc_dir / "bashrc"), "-i", *run]
    if shell == "zsh":
        (rc_dir / ".zshrc").write_text(line + "\n")
        return ["zsh", "-i", *run]
    return ["fish", "--no-config", "--init-command", line, "-i", *run]


def shell_env(shell: str, env: Mapping[str, str]) -> dict[str, str]:
    full = dict(env)
    if shell == "zsh":
        full["ZDOTDIR"] = str(Path(env["HOME"]) / ".rc-zsh")
    return full


def started_by(home: Path) -> list[int]:
    """Processes whose environment names this journey's HOME: only what it started."""
    wanted = f"HOME={home}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(entry))
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace").strip()
    except OSError:
        return "?"


def agents(home: Path) -> list[int]:
    """The fence agents started for this HOME."""
    return [pid for pid in started_by(home) if "pipwrap.fence.agent" in command_line(pid)]


def end_all(home: Path, but_agents: bool = False) -> None:
    """Kill what the journey left running (its agent, a server it put in the background)."""
    for pid in started_by(home):
        if but_agents and "pipwrap.fence.agent" in command_line(pid):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def holders(path_of_fd: str) -> list[str]:
    """Processes holding an open file (here: the read side's pipe) as 'pid command'."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") == path_of_fd \
                            and int(entry) != os.getpid():
                        found.append(f"{entry} {command_line(int(entry))}")
                        break
    return found


@dataclass
class Seen:
    """What the person saw: the shell's exit status and everything it printed."""
    status: int
    output: str

    def lines(self) -> list[str]:
        return self.output.splitlines()

    def after(self, marker: str) -> str:
        """What was printed after the line ``marker`` (up to the next '== ' marker)."""
        text = self.output.split(f"{marker}\n", 1)
        if len(text) < 2:
            return ""
        return text[1].split("\n== ", 1)[0]


def run(shell: str, script: str, env: Mapping[str, str], *, timeout: float = 60,
        cwd: Path | None = None, prefix: Sequence[str] = (), init: str | None = None,
        user: str | None = None) -> Seen:
    """Run ``script`` in ``shell`` (interactive, rc file with the init line), output a pipe.

    Lines starting ``echo '== `` mark steps: a hang names the last step reached.
    ``prefix``: a command to run the shell under (a network namespace, another user).
    """
    home = Path(env["HOME"])
    script_file = home / f".journey.{shell}"
    script_file.write_text(script + "\n")
    argv = [*prefix, *shell_argv(shell, home, script_file, init)]
    if user:
        # Files the journey wrote as root must be the person's own.
        subprocess.run(["chown", "-R", f"{user}:{user}", str(home)], check=True, timeout=30)
    chunks: list[bytes] = []
    process = subprocess.Popen(argv, env=shell_env(shell, env), cwd=cwd or home,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    assert process.stdout is not None
    pipe = os.readlink(f"/proc/{process.pid}/fd/1")

    def read() -> None:
        assert process.stdout is not None
        while chunk := os.read(process.stdout.fileno(), 65536):
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def printed() -> str:
        return b"".join(chunks).decode(errors="replace")

    try:
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            steps = re.findall(r"(?m)^== .*$", printed())
            pytest.fail(f"{shell}: the journey hung (no end after {timeout:.0f} s); "
                        f"last step reached: {steps[-1] if steps else 'none'}; "
                        f"it printed:\n{printed()}")
        # What the script left in the background (a server) goes; what pipwrap started
        # itself must let go of the output on its own.
        end_all(home, but_agents=True)
        reader.join(OUTPUT_GRACE)
        if reader.is_alive():
            kept = holders(pipe)
            pytest.fail(f"{shell}: the shell exited ({status}) but its output stayed open "
                        f"{OUTPUT_GRACE:.0f} s after, held by: {kept}; it printed:\n"
                        f"{printed()}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        end_all(home)
        process.wait()
        reader.join(2)
    return Seen(status, printed().replace("\r\n", "\n"))


class Terminal:
    """An interactive shell on a pseudo-terminal (its controlling terminal), driven a
    command at a time: ``do(command)`` types it and returns its exit status and output."""

    MARK = re.compile(rb"_BEGIN_\r?\n(.*?)_END_(\d+)_", re.DOTALL)

    def __init__(self, shell: str, env: Mapping[str, str], *, cwd: Path | None = None,
                 init: str | None = None, name: str = "") -> None:
        self.shell = shell
        self.name = name or shell
        self.home = Path(env["HOME"])
        argv = shell_argv(shell, self.home, None, init)
        full_env = shell_env(shell, {**env, "TERM": "dumb"})
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.chdir(cwd or self.home)
            os.execvpe(argv[0], argv, full_env)
        self.buffer = b""
        self.transcript = b""
        self.command = ""

    def _read(self, until: re.Pattern[bytes], timeout: float, what: str) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            found = until.search(self.buffer)
            if found:
                self.buffer = self.buffer[found.end():]
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                pytest.fail(f"{self.name}: {what} hung (no end after {timeout:.0f} s); "
                            f"the terminal showed:\n{self.text()}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.1))
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    self.close()
                    pytest.fail(f"{self.name}: the shell went away during {what}; the "
                                f"terminal showed:\n{self.text()}")
                self.buffer += data
                self.transcript += data

    def text(self) -> str:
        return self.transcript.decode(errors="replace").replace("\r\n", "\n")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def start(self, command: str) -> None:
        """Type ``command`` at the prompt; ``finish`` reads what it printed."""
        status = status_of(self.shell)
        self.command = command
        # One line: nothing typed ahead for the command to read as its input.
        self.type(f"printf '\\137BEGIN\\137\\n'; {command}; "
                  f"printf '\\137END\\137%s\\137\\n' {status}\r")

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """(the typed command's exit status, what it printed)."""
        found = self._read(self.MARK, timeout, repr(self.command))
        output = found.group(1).decode(errors="replace").replace("\r\n", "\n")
        return int(found.group(2)), output

    def do(self, command: str, timeout: float = 60) -> tuple[int, str]:
        self.start(command)
        return self.finish(timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.fd, b"exit\r")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if select.select([self.fd], [], [], 0.05)[0]:
                    os.read(self.fd, 65536)
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    break
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)


@contextlib.contextmanager
def terminals(*opened: Terminal) -> Iterator[tuple[Terminal, ...]]:
    """The terminals, closed afterwards with whatever their journey left running."""
    try:
        yield opened
    finally:
        for terminal in opened:
            terminal.close()
        for terminal in opened:
            end_all(terminal.home)
