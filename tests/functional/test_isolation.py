"""Network isolation (pipwrap/fence/netns.py): a command entered into the fence's
namespace reaches the fence's listener and nothing else, as root and as a plain user.

Each probe runs the same connection bare first: the outside listener answers there, so
a failure inside is the namespace's doing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipwrap.fence import netns
from tests.support.plain_user import User

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "tests/support/netns_probe.py"
AVAILABLE = netns.availability()
needs_isolation = pytest.mark.skipif(not AVAILABLE.available,
                                     reason=f"no network namespace here: {AVAILABLE.reason}")


@pytest.fixture
def outside_port() -> Iterator[int]:
    """A listener on 127.0.0.1 outside any namespace: what an escaping child would reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"outside\n")

    threading.Thread(target=answer, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()


def probe(port: int, user: User | None) -> tuple[dict[str, object], dict[str, object]]:
    if user is None:
        argv = [sys.executable, "-I", str(PROBE), str(REPO), str(port)]
    else:
        # The plain user may not enter the checkout (a clone in a 0700 directory).
        copy = user.own_copy(REPO, "pipwrap", str(PROBE.relative_to(REPO)))
        argv = [user.python, "-I", str(copy / PROBE.relative_to(REPO)), str(copy), str(port)]
    done = (user.run(argv) if user else
            subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["entered"], report["entered_err"]
    return json.loads(report["entered"]), json.loads(report["bare"])


@needs_isolation
@pytest.mark.parametrize("who", ["root", "plain"])
def test_an_entered_command_reaches_the_fence_and_nothing_else(
        who: str, outside_port: int, request: pytest.FixtureRequest) -> None:
    if who == "root" and os.geteuid() != 0:
        pytest.skip("the tests do not run as root")
    user: User | None = request.getfixturevalue("plain_user") if who == "plain" else None
    inside, bare = probe(outside_port, user)
    assert bare["outside"] == "reached outside"  # the probe can connect: the control
    uid = user.uid if user else os.geteuid()
    gid = user.gid if user else os.getegid()
    # The user's own ids: pip does not think it is root, files stay the user's.
    assert (inside["uid"], inside["euid"], inside["gid"]) == (uid, uid, gid)
    if uid != 0:
        assert inside["cap_eff"] == 0
    assert str(inside["outside"]).startswith("failed"), inside
    assert inside["inside"] == "reached fence"
    assert str(inside["dns"]).startswith("failed") and float(inside["dns_seconds"]) < 2  # type: ignore[arg-type]
    # Back into the machine's network namespace: refused (no capability over it).
    assert inside["escape_status"] != 0


@needs_isolation
def test_availability_names_the_switch_that_turns_user_namespaces_off() -> None:
    # Inside a user namespace of its own, a process may lower the limit for itself: a
    # real kernel refusal, without touching the machine's setting.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pipwrap.fence import netns\n"
            "print(netns.availability())\n"
            "try:\n    netns.create(0)\nexcept netns.IsolationUnavailable as exc:\n"
            "    print('create:', exc)\n")
    script = (f"echo 0 > /proc/sys/user/max_user_namespaces && "
              f"exec '{sys.executable}' -I -c \"$0\" '{REPO}'")
    done = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script, code],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "available=False" in done.stdout
    assert "/proc/sys/user/max_user_namespaces is 0" in done.stdout
    assert "create: cannot make a network namespace: unshare(CLONE_NEWUSER | CLONE_NEWNET) " \
           "failed:" in done.stdout


def test_availability_on_this_machine_matches_what_the_kernel_does() -> None:
    """The answer is either "available" or a reason a person can act on, never empty."""
    found = netns.availability()
    assert found.available or found.reason
    if found.available:
        netns.create(0).close()
