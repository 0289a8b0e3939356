"""HTTP engines for `pipwrap serve`, side by side on one synthetic tree, with nginx (the
config `pipwrap repo nginx-conf --standalone` writes) and today's `pipwrap serve` in the
same run (issue 23). The candidates run benchmarks/engine_apps.py: one project page from
disk per request, kept in memory while its stat holds, as serve does.

    .venv/bin/python benchmarks/bench_engines.py [--projects 300] [--duration 3]
        [--engines nginx,serve,granian-rsgi,...]

Per server: start-up to the first 200; wrk (one thread) req/s and p99 at 8, 64 and 256
keep-alive connections over random project pages; 300 connections dribbling header bytes
(one byte a second each) while a client asks for a page on a new connection every 0.1 s
(answered, p99); the framing probes (raw sockets); peak RSS of the process tree.
The engines must be installed in this Python (pip install granian aiohttp uvicorn
httptools waitress); a missing one is skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_repo import (  # noqa: E402
    PIP_ACCEPT,
    PIPWRAP,
    PYTHON,
    REPO,
    WRK_SCRIPT,
    free_port,
    get,
    nginx_server,
    running,
    wrk,
)
from synthetic_repo import generate  # noqa: E402

ENGINES = ["nginx", "serve", "pipwrap-granian", "granian-rsgi", "granian-asgi", "aiohttp",
           "uvicorn", "waitress"]
APP = str(HERE / "engine_apps.py")

# Each probe puts a second request where a lax reader of the first one's body would see a
# request; a strict server answers one response (or refuses with 400/501 and closes).
SMUGGLED = b"GET /simple/smuggled/ HTTP/1.1\r\nHost: x\r\n\r\n"
_CHUNKED_END = b"0\r\n\r\n" + SMUGGLED
PROBES: list[tuple[str, bytes]] = [
    ("GET body as 2nd request",
     b"GET /simple/foo-bar/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
     % (len(SMUGGLED), SMUGGLED)),
    ("TE + CL",
     b"GET /simple/foo-bar/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Length: %d\r\n\r\n%s" % (len(_CHUNKED_END), _CHUNKED_END)),
    ("xchunked",
     b"GET /simple/foo-bar/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"
     + _CHUNKED_END),
    ("CL +1_0",
     b"GET /simple/foo-bar/ HTTP/1.1\r\nHost: x\r\nContent-Length: +1_0\r\n\r\n"
     b"0123456789" + SMUGGLED),
]


def probe(port: int, data: bytes) -> str:
    """What came back for ``data``: the status codes, then "closed" or "open"."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(data)
        got = b""
        closed = False
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, socket.timeout):
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
    codes = [code.decode() for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", got)]
    return f"{'+'.join(codes) or 'none'} {'closed' if closed else 'open'}"


def strict(name: str, result: str) -> bool:
    codes, state = result.split()
    first = codes.split("+")[0]
    if "+" in codes or first == "none":
        return False  # the body ran as a second request (or nothing answered)
    if name == "GET body as 2nd request":
        return True
    if name == "TE + CL":  # refused, or (RFC 9112 6.1) answered once and closed
        return first in ("400", "501") or state == "closed"
    return first in ("400", "501")


def tree_rss_mb(pid: int, field: str = "VmHWM") -> float:
    """Peak RSS (VmHWM; or now, VmRSS) of ``pid`` and its children, summed, in MB."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    pids.append(int(entry))
    total = 0
    for each in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    total += int(line.split()[1])
    return total / 1024


def dribble(port: int, path: str, clients: int, hold: float) -> tuple[int, int, float]:
    """(probes answered 200, probes sent, p99 ms) while ``clients`` dribble headers."""
    sockets: list[socket.socket] = []
    for _ in range(clients):
        with contextlib.suppress(OSError):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /simple/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            sockets.append(sock)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.send(b"a")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    times: list[float] = []
    ok = sent = 0
    end = time.monotonic() + hold
    while time.monotonic() < end:
        sent += 1
        start = time.perf_counter()
        try:
            status, _ = get(port, path)
        except Exception:
            status = 0
        elapsed = (time.perf_counter() - start) * 1000
        if status == 200:
            ok += 1
            times.append(elapsed)
        time.sleep(0.1)
    stop.set()
    thread.join()
    for sock in sockets:
        sock.close()
    p99 = statistics.quantiles(times, n=100)[98] if len(times) >= 2 else float("nan")
    return ok, sent, p99


def hostile_mix(engine: str, repo: Path, work: Path, page: str, hold: float) -> str:
    """256 dribbling clients and 16 clients sending wrong passwords (a bcrypt cost-10
    entry) while a logged-in reader asks for a page every 50 ms: the reader's p99, what
    it got, and peak RSS. For `serve` and its port only (logins are theirs)."""
    import base64

    import bcrypt

    htpasswd = work / "htpasswd"
    reader = subprocess.run(["openssl", "passwd", "-apr1", "r-pass"], capture_output=True,
                            text=True, check=True).stdout.strip()
    token = bcrypt.hashpw(b"t-pass", bcrypt.gensalt(rounds=10)).decode()
    htpasswd.write_text(f"reader:{reader}\n__token__:{token}\n")
    port = free_port()
    env = None
    if engine == "serve":
        argv = [*PIPWRAP, "serve", "--repo", str(repo), "--port", str(port), "--no-fallback",
                "--htpasswd", str(htpasswd), "--auth", "read,upload"]
    else:
        argv = [PYTHON, APP, engine, str(repo), str(port)]
        env = {**os.environ, "ENGINE_APP_HTPASSWD": str(htpasswd)}
    good = "Basic " + base64.b64encode(b"reader:r-pass").decode()
    bad = ("Basic " + base64.b64encode(b"__token__:guess").decode())
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:  # answering at all (401 here) is ready
            try:
                get(port, "/simple/")
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{engine} did not start") from None
                time.sleep(0.05)
        stop = threading.Event()

        def guess() -> None:
            request = (f"GET {page} HTTP/1.1\r\nHost: x\r\nAuthorization: {bad}\r\n\r\n"
                       ).encode()
            while not stop.is_set():
                with contextlib.suppress(OSError), \
                        socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    while not stop.is_set():
                        sock.sendall(request)
                        if not sock.recv(65536):
                            break

        sockets = []
        for _ in range(256):
            with contextlib.suppress(OSError):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(b"GET /simple/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                sockets.append(sock)

        def trickle() -> None:
            while not stop.wait(1.0):
                for each in sockets:
                    with contextlib.suppress(OSError):
                        each.send(b"a")

        threads = [threading.Thread(target=guess, daemon=True) for _ in range(16)]
        threads.append(threading.Thread(target=trickle, daemon=True))
        for thread in threads:
            thread.start()
        import http.client

        def read() -> tuple[int, float]:
            start = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", page, headers={"Authorization": good,
                                                         "Accept": PIP_ACCEPT})
                status = connection.getresponse().status
            except (OSError, http.client.HTTPException):
                status = 0
            finally:
                connection.close()
            return status, (time.perf_counter() - start) * 1000

        read()  # a reader already logged in
        time.sleep(1)
        times, statuses = [], []
        end = time.monotonic() + hold
        while time.monotonic() < end:
            status, elapsed = read()
            statuses.append(status)
            times.append(elapsed)
            time.sleep(0.05)
        stop.set()
        for sock in sockets:
            sock.close()
        rss = tree_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(10)
    p99 = statistics.quantiles(times, n=100)[98] if len(times) > 1 else float("nan")
    ok = statuses.count(200)
    return (f"{engine:<16} reader under 256 dribblers + 16 wrong passwords: {ok}/"
            f"{len(statuses)} answered 200, p99 {p99:.0f} ms; peak RSS {rss:.0f} MB")


def start(stack: contextlib.ExitStack, engine: str, repo: Path, work: Path,
          page: str):  # type: ignore[no-untyped-def]
    if engine == "nginx":
        return nginx_server(stack, repo, work / "nginx")
    port = free_port()
    if engine == "serve":
        argv = [*PIPWRAP, "serve", "--repo", str(repo), "--port", str(port), "--no-fallback"]
    else:
        argv = [PYTHON, APP, engine, str(repo), str(port)]
    return stack.enter_context(running(engine, argv, port, page, "/simple/"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--hold", type=float, default=6.0,
                        help="seconds of dribbling clients per server")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--hostile", action="store_true",
                        help="only the hostile mix, for serve and pipwrap-granian")
    parser.add_argument("--probes-only", action="store_true",
                        help="only start-up, the framing probes and RSS")
    args = parser.parse_args()
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    os.chdir(REPO)
    rows = []
    with tempfile.TemporaryDirectory(prefix="pipwrap-engines-") as tmp:
        work = Path(tmp)
        generate(work / "repo", args.projects, args.projects * 3)
        repo = work / "repo"
        subprocess.run([*PIPWRAP, "repo", "index", "--repo", str(repo)], check=True,
                       stdout=subprocess.DEVNULL)
        projects = sorted(p.name for p in repo.iterdir() if p.is_dir() and p.name[0] != ".")
        paths = work / "paths.txt"
        paths.write_text("".join(f"/simple/{p}/\n" for p in projects))
        script = work / "pages.lua"
        script.write_text(WRK_SCRIPT % (paths, PIP_ACCEPT))
        page = f"/simple/{random.Random(1).choice(projects)}/"
        if args.hostile:
            for engine in ("serve", "pipwrap-granian"):
                print(hostile_mix(engine, repo, work, page, args.hold), flush=True)
            return
        for engine in args.engines.split(","):
            module = "granian" if engine == "pipwrap-granian" else engine.split("-")[0]
            if engine not in ("nginx", "serve") and subprocess.run(
                    [PYTHON, "-c", f"import {module}"],
                    capture_output=True).returncode != 0:
                print(f"{engine}: not installed, skipped")
                continue
            with contextlib.ExitStack() as stack:
                server = start(stack, engine, repo, work, page)
                figures: dict[str, object] = {"engine": engine,
                                              "startup": server.startup * 1000}
                for connections in (8, 64, 256):
                    if args.probes_only:
                        figures[f"c{connections}"] = (float("nan"), float("nan"))
                        continue
                    wrk(server.url, script, connections, 1)  # warm up
                    figures[f"c{connections}"] = wrk(server.url, script, connections,
                                                     args.duration)
                figures["dribble"] = ((0, 0, float("nan")) if args.probes_only
                                      else dribble(server.port, page, 300, args.hold))
                figures["probes"] = [(name, probe(server.port, data))
                                     for name, data in PROBES]
                figures["rss"] = tree_rss_mb(server.process.pid)
                rows.append(figures)
                print(format_row(figures, rows[0]), flush=True)
    print()
    for figures in rows:
        print(format_row(figures, rows[0]))


def format_row(figures: dict[str, object], base: dict[str, object]) -> str:
    cells = [f"{figures['engine']:<13}", f"start {figures['startup']:6.0f} ms"]
    for connections in (8, 64, 256):
        rps, p99 = figures[f"c{connections}"]  # type: ignore[misc]
        base_rps = base[f"c{connections}"][0]  # type: ignore[index]
        cells.append(f"c{connections} {rps:7.0f} ({rps / base_rps:.2f}x) p99 {p99:7.1f} ms")
    ok, sent, p99 = figures["dribble"]  # type: ignore[misc]
    cells.append(f"300 dribblers: {ok}/{sent} p99 {p99:.0f} ms")
    probes = figures["probes"]
    cells.append("probes: " + "; ".join(
        f"{name}={result}{'' if strict(name, result) else ' LAX'}"
        for name, result in probes))  # type: ignore[union-attr]
    cells.append(f"RSS {figures['rss']:.0f} MB")
    return " | ".join(cells)


if __name__ == "__main__":
    main()
