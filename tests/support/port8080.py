"""Port 8080 for a script that runs `pipwrap serve &` as the docs write it (the address of
the built-in `local` profile): in a network namespace of its own where the machine allows
one, else this machine's 8080 under a lock, one test at a time."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest


def own_loopback() -> list[str] | None:
    """A prefix that runs a command in a new network namespace with loopback up, if the
    machine allows one: port 8080 there is the command's alone."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin")
    if not unshare or not ip:
        return None
    probe = subprocess.run([unshare, "-rn", ip, "link", "set", "lo", "up"],
                           capture_output=True, timeout=60, check=False)
    if probe.returncode != 0:
        return None
    return [unshare, "-rn", "sh", "-c", f"'{ip}' link set lo up && exec \"$@\"", "sh"]


@contextlib.contextmanager
def port_8080_of_this_machine() -> Iterator[None]:
    """No namespace: take 8080 here, one test run at a time, or skip if another has it."""
    with open("/tmp/pipwrap-tests-port-8080.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", 8080))
            except OSError:
                pytest.skip("port 8080 is taken and no network namespace can be made here")
        yield


@contextlib.contextmanager
def on_port_8080() -> Iterator[list[str]]:
    """The prefix to run a command with (empty: this machine's 8080, held meanwhile)."""
    prefix = own_loopback()
    with contextlib.ExitStack() as stack:
        if prefix is None:
            stack.enter_context(port_8080_of_this_machine())
        yield prefix or []


def run_leaving_jobs(argv: list[str], env: Mapping[str, str], cwd: Path, out: Path,
                     err: Path, timeout: float) -> int:
    """Run a script that leaves jobs behind (`pipwrap serve &`), then end its whole
    process group. Files, not pipes: a job holding a pipe keeps its reader waiting."""
    with out.open("w") as stdout, err.open("w") as stderr:
        shell = subprocess.Popen(argv, env=env, cwd=cwd, stdout=stdout, stderr=stderr,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            return shell.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGTERM)
            time.sleep(0.5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGKILL)
