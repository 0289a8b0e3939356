"""Run as a script by whichever user a test chooses: make a fence namespace as that user,
answer on its inside listener, and report what a command entered into it sees, next to
what the same command sees outside (so that the probe is shown able to connect).

    python netns_probe.py REPO OUTSIDE_PORT   ->  one JSON object on stdout
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

# What the command run inside reports: its identity, its capabilities, and which
# connections it can make. Only loopback ports of this test are connected to; the name
# lookup cannot leave a namespace that has no route.
CHILD = r"""
import json, os, socket, subprocess, sys, time
outside, inside = int(sys.argv[1]), int(sys.argv[2])
def connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.settimeout(5)
            return "reached " + s.recv(64).decode().strip()
    except OSError as exc:
        return f"failed: {exc}"
status = dict(l.split(":", 1) for l in open("/proc/self/status") if l.startswith("Cap"))
started = time.monotonic()
try:
    socket.getaddrinfo("pypi.org", 443)
    dns = "resolved"
except OSError as exc:
    dns = f"failed: {exc}"
dns_seconds = time.monotonic() - started
escape = subprocess.run(["nsenter", "--net=/proc/1/ns/net", "--", "true"],
                        capture_output=True, text=True, timeout=10)
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid(),
    "cap_eff": int(status["CapEff"].strip(), 16),
    "outside": connect(outside), "inside": connect(inside) if inside else "",
    "dns": dns, "dns_seconds": dns_seconds, "escape_status": escape.returncode,
}))
"""


def main() -> int:
    repo, outside_port = sys.argv[1], int(sys.argv[2])
    sys.path.insert(0, repo)
    from pipwrap.fence import netns

    space = netns.create(0)

    def answer() -> None:
        while True:
            try:
                conn, _ = space.listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"fence\n")

    threading.Thread(target=answer, daemon=True).start()
    child = [sys.executable, "-I", "-c", CHILD, str(outside_port)]
    entered = subprocess.run(space.enter_argv() + child + [str(space.port)],
                             capture_output=True, text=True, timeout=60, check=False)
    bare = subprocess.run([*child, "0"], capture_output=True, text=True, timeout=60,
                          check=False)
    report = {"entered": entered.stdout, "entered_err": entered.stderr,
              "bare": bare.stdout, "bare_err": bare.stderr}
    print(json.dumps(report))
    space.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
