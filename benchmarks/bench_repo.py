"""Speed figures for the hosting half (`pipwrap repo`, `pipwrap serve`), each against a
baseline measured in the same run, over a synthetic repository (benchmarks/synthetic_repo.py).

    .venv/bin/python benchmarks/bench_repo.py [--projects 1000] [--files 5000]
        [--duration 3] [--only 1,2,3]

1. `pipwrap repo index`: cold (fresh tree, no state; median of 3), `repo add` of one new
   file (median of 3 different files), no change (median of 5; files whose mtime changed
   must be 0), against a naive single-process indexer written below (sha256, METADATA,
   `.metadata`, every page rewritten each run). Goals: 1.5 s, 0.15 s, 0.1 s.
2. `pipwrap serve` vs `python -m http.server` over the same tree vs pypiserver: start-up to
   the first 200, p50 latency of a project page (new connection per request, pip's Accept
   header; also over one kept-alive session, as pip and uv do), requests/s from 8 client
   processes, peak RSS (VmHWM) after the load.
   Goals: >= 0.5x http.server's throughput, >= 50x pypiserver's, p50 <= 2 ms,
   RSS <= 50 MB, start-up <= 0.5 s.
3. `uv pip install foo-bar` and `pip install --target` against serve vs http.server
   (median of 3; goal <= 1.1x); the version installed must be 1.6.0 (1.7.0 requires
   Python >= 3.99).
4. `pipwrap serve` vs nginx (`repo nginx-conf --standalone`, one worker) on the same tree,
   measured with wrk (one thread) at 8 and 64 keep-alive connections over random project
   pages with pip's Accept header (issue 17). Goals: >= 0.25x nginx's requests/s at both,
   p99 at 64 connections <= 50 ms.
5. `pipwrap serve` under 256 hostile slow clients (each sends a header line a byte at a
   time, never ending it): peak RSS (goal <= 100 MB), and that a normal client still
   gets its page or a clear 503.
6. `serve --cache`: a cached upstream file vs a locally held file of the same size from the
   same server (64 KiB and 20 MiB, new connection per request, 40 interleaved pairs, the
   median of the pairs' ratios; goal <= 1.2x), and the cold fetch's first byte vs its whole
   time (streamed). A 50 MB wheel uploaded to `serve`: how soon after the answer the pages
   list it (goal <= 0.2 s), the request's time against `repo add` of the same file, serve's
   peak RSS after it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import html
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from synthetic_repo import generate, make_wheel  # noqa: E402

PYTHON = sys.executable
PIPWRAP = [PYTHON, "-m", "pipwrap"]
PIP_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; "
              "q=0.1, text/html; q=0.01")
CLIENTS = 8
LATENCY_SAMPLES = 300
PYPISERVER_SAMPLES = 50
PYPISERVER_MAX_SECONDS = 3.0
EXPECTED_VERSION = "1.6.0"

ROWS: list[tuple[str, str, str, str, str]] = []  # figure, baseline, ratio, goal, verdict


def row(label: str, figure: str, baseline: str, ratio: float | None, goal: str,
        met: bool | None) -> None:
    verdict = "" if met is None else ("ok" if met else "MISSED")
    ratio_text = "" if ratio is None else f"{ratio:.2f}x"
    ROWS.append((label, figure, baseline, ratio_text, f"{goal} {verdict}".strip()))


# -- 1. indexing -----------------------------------------------------------------------


def naive_index(root: str) -> None:
    """The baseline indexer: everything recomputed and rewritten on every run."""
    projects = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        files = []
        for item in sorted(os.scandir(entry.path), key=lambda e: e.name):
            name = item.name
            if not name.endswith((".whl", ".tar.gz")):
                continue
            with open(item.path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            if name.endswith(".whl"):
                with zipfile.ZipFile(item.path) as archive:
                    member = next(n for n in archive.namelist()
                                  if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
                    metadata = archive.read(member)
                with open(item.path + ".metadata", "wb") as out:
                    out.write(metadata)
            else:
                with tarfile.open(item.path, "r:gz") as archive:
                    member = next(m for m in archive.getmembers()
                                  if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))
                    handle = archive.extractfile(member)
                    metadata = handle.read() if handle else b""
            requires_python = None
            for line in metadata.decode("utf-8", "replace").splitlines():
                if not line:
                    break
                if line.lower().startswith("requires-python:"):
                    requires_python = line.split(":", 1)[1].strip()
            files.append((name, digest, requires_python, name.endswith(".whl"),
                          hashlib.sha256(metadata).hexdigest()))
        links = []
        for name, digest, requires_python, wheel, meta_digest in files:
            extra = f' data-requires-python="{html.escape(requires_python)}"' \
                if requires_python else ""
            if wheel:
                extra += f' data-dist-info-metadata="sha256={meta_digest}"' \
                         f' data-core-metadata="sha256={meta_digest}"'
            links.append(f'<a href="{name}#sha256={digest}"{extra}>{name}</a><br>')
        with open(os.path.join(entry.path, "index.html"), "w") as out:
            out.write(f"<!DOCTYPE html><html><body><h1>{entry.name}</h1>\n"
                      + "\n".join(links) + "\n</body></html>\n")
        document = {
            "meta": {"api-version": "1.0"}, "name": entry.name,
            "files": [{"filename": name, "url": name, "hashes": {"sha256": digest},
                       "requires-python": requires_python,
                       "core-metadata": {"sha256": meta_digest} if wheel else False}
                      for name, digest, requires_python, wheel, meta_digest in files],
        }
        with open(os.path.join(entry.path, "index.json"), "w") as out:
            json.dump(document, out)
        projects.append(entry.name)
    with open(os.path.join(root, "index.html"), "w") as out:
        out.write("<!DOCTYPE html><html><body>\n"
                  + "".join(f'<a href="{p}/">{p}</a><br>\n' for p in projects)
                  + "</body></html>\n")


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds one command takes (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def mtimes(root: Path) -> dict[str, int]:
    found = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            found[path] = os.stat(path).st_mtime_ns
    return found


def index_figures(work: Path, source: Path, added: list[Path]) -> Path:
    """Section 1; returns the indexed repository the later sections use."""
    naive = [PYTHON, str(Path(__file__).resolve()), "--naive-index"]
    cold, cold_naive = [], []
    for n in range(3):
        target, baseline = work / f"repo{n}", work / f"naive{n}"
        for where in (target, baseline):
            shutil.rmtree(where, ignore_errors=True)
            shutil.copytree(source, where)
        cold.append(timed([*PIPWRAP, "repo", "index", "--repo", str(target)]))
        cold_naive.append(timed([*naive, str(baseline)]))
    repo, baseline = work / "repo2", work / "naive2"
    first = statistics.median(cold)
    base = statistics.median(cold_naive)
    print(f"   cold:      pipwrap {first:6.3f} s   naive {base:6.3f} s  "
          f"ratio {first / base:4.2f}x  (goal <= 1.5 s)")
    row("repo index, cold", f"{first:.3f} s", f"{base:.3f} s (naive)", first / base,
        "<= 1.5 s", first <= 1.5)

    adds, adds_naive = [], []
    for dist in added:
        adds.append(timed([*PIPWRAP, "repo", "add", "--repo", str(repo), str(dist)]))
        start = time.perf_counter()
        project = baseline / dist.name.split("-")[0].replace("_", "-")
        project.mkdir(exist_ok=True)
        shutil.copy2(dist, project / dist.name)
        subprocess.run([*naive, str(baseline)], check=True)
        adds_naive.append(time.perf_counter() - start)
    add, base = statistics.median(adds), statistics.median(adds_naive)
    print(f"   add 1:     pipwrap {add:6.3f} s   naive {base:6.3f} s  "
          f"ratio {add / base:4.2f}x  (goal <= 0.15 s; naive rebuilds everything)")
    row("repo add, one file", f"{add:.3f} s", f"{base:.3f} s (naive)", add / base,
        "<= 0.15 s", add <= 0.15)

    before = mtimes(repo)
    time.sleep(0.05)  # so a rewrite would show in a coarse mtime too
    same = statistics.median(
        timed([*PIPWRAP, "repo", "index", "--repo", str(repo)]) for _ in range(5))
    after = mtimes(repo)
    changed = sum(1 for path, mtime in after.items() if before.get(path) != mtime)
    removed = len(before.keys() - after.keys())
    base = statistics.median(timed([*naive, str(baseline)]) for _ in range(5))
    print(f"   no change: pipwrap {same:6.3f} s   naive {base:6.3f} s  "
          f"ratio {same / base:4.2f}x  (goal <= 0.1 s); files written or touched: "
          f"{changed}, removed: {removed} (must be 0)")
    row("repo index, no change", f"{same:.3f} s", f"{base:.3f} s (naive)", same / base,
        "<= 0.1 s", same <= 0.1)
    row("  files touched by it", str(changed + removed), "", None, "0",
        changed + removed == 0)
    return repo


# -- 2. serving ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str, accept: str | None = PIP_ACCEPT) -> tuple[int, bytes]:
    """One GET on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Accept": accept} if accept else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Server:
    """A server process on 127.0.0.1; ``prefix`` is where project pages are; it is up
    once ``root_page`` answers ``ready`` (a 401 where every read needs a login)."""

    def __init__(self, label: str, argv: list[str], port: int, root_page: str,
                 prefix: str, env: dict[str, str] | None = None, ready: int = 200) -> None:
        self.label, self.port, self.root_page, self.prefix = label, port, root_page, prefix
        start = time.perf_counter()
        self.process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = start + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{label} exited with {self.process.returncode}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if get(port, root_page, None)[0] == ready:
                    break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{label} did not answer {root_page} with {ready} "
                                   "within 60 s")
            time.sleep(0.002)
        self.startup = time.perf_counter() - start

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def peak_rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def running(*args: object, **kwargs: object) -> Iterator[Server]:
    server = None
    try:
        server = Server(*args, **kwargs)  # type: ignore[arg-type]
        yield server
    finally:
        if server is not None:
            server.stop()


def start_servers(stack: contextlib.ExitStack, repo: Path) -> dict[str, Server]:
    port = free_port()
    serve = stack.enter_context(running(
        "pipwrap serve",
        [*PIPWRAP, "serve", "--repo", str(repo), "--host", "127.0.0.1", "--port", str(port),
         "--no-fallback"], port, "/simple/", "/simple/"))
    port = free_port()
    static = stack.enter_context(running(
        "http.server",
        [PYTHON, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory",
         str(repo)], port, "/", "/"))
    return {"serve": serve, "http.server": static}


def pypiserver(stack: contextlib.ExitStack, repo: Path) -> Server:
    port = free_port()
    command = [str(Path(PYTHON).with_name("pypi-server")), "run", "-i", "127.0.0.1",
               "-p", str(port), "-a", ".", "-P", ".", str(repo)]
    return stack.enter_context(running("pypiserver", command, port, "/simple/", "/simple/"))


def latency_ms(server: Server, projects: list[str], samples: int) -> float:
    rng = random.Random(1)
    times = []
    for _ in range(samples):
        path = f"{server.prefix}{rng.choice(projects)}/"
        start = time.perf_counter()
        status, _body = get(server.port, path)
        times.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise RuntimeError(f"{server.label}: {path} answered {status}")
    return statistics.median(times)


def session_latency_ms(server: Server, projects: list[str], samples: int) -> float:
    """p50 over one client session, as pip and uv make them: the connection is kept alive
    where the server allows it (HTTP/1.1), else reopened for each request."""
    rng = random.Random(2)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    times = []
    try:
        for _ in range(samples):
            path = f"{server.prefix}{rng.choice(projects)}/"
            start = time.perf_counter()
            connection.request("GET", path, headers={"Accept": PIP_ACCEPT})
            response = connection.getresponse()
            response.read()
            times.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                raise RuntimeError(f"{server.label}: {path} answered {response.status}")
            if response.will_close:
                connection.close()
    finally:
        connection.close()
    return statistics.median(times)


def load_worker(job: tuple[int, str, list[str], int, float, float]) -> tuple[int, int]:
    """One client process: GET random project pages from ``start`` to ``end``."""
    port, prefix, projects, seed, start, end = job
    rng = random.Random(seed)
    paths = [f"{prefix}{name}/" for name in rng.choices(projects, k=2000)]
    time.sleep(max(0.0, start - time.time()))
    done = errors = 0
    while time.time() < end:
        try:
            status, _body = get(port, paths[done % len(paths)])
        except (OSError, http.client.HTTPException):
            errors += 1
            continue
        if status == 200:
            done += 1
        else:
            errors += 1
    return done, errors


def throughput(pool: multiprocessing.pool.Pool, server: Server, projects: list[str],
               seconds: float) -> float:
    start = time.time() + 0.3
    jobs = [(server.port, server.prefix, projects, n, start, start + seconds)
            for n in range(CLIENTS)]
    results = pool.map(load_worker, jobs)
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    if errors:
        print(f"   ({server.label}: {errors} failed requests under load)")
    return done / seconds


def serve_figures(repo: Path, duration: float) -> None:
    projects = sorted(p.name for p in repo.iterdir() if p.is_dir() and p.name[0] != ".")
    figures: dict[str, dict[str, float]] = {}
    context = multiprocessing.get_context("fork")
    with context.Pool(CLIENTS) as pool, contextlib.ExitStack() as stack:
        servers = start_servers(stack, repo)
        servers["pypiserver"] = pypiserver(stack, repo)
        for label, server in servers.items():
            slow = label == "pypiserver"
            samples = PYPISERVER_SAMPLES if slow else LATENCY_SAMPLES
            p50 = latency_ms(server, projects, samples)
            session = session_latency_ms(server, projects, min(samples, 100))
            rps = throughput(pool, server, projects,
                             min(duration, PYPISERVER_MAX_SECONDS) if slow else duration)
            rss = server.peak_rss_mb()
            figures[label] = {"startup": server.startup, "p50": p50, "rps": rps, "rss": rss,
                              "session": session}
            print(f"   {label:<12} start-up {server.startup * 1000:7.1f} ms   "
                  f"p50 {p50:6.2f} ms ({samples} requests; in one session "
                  f"{session:6.2f} ms)   {rps:7.0f} req/s ({CLIENTS} clients)   "
                  f"peak RSS {rss:5.1f} MB")
            server.stop()
    serve, static, pypi = figures["serve"], figures["http.server"], figures["pypiserver"]
    print(f"   serve / http.server: throughput {serve['rps'] / static['rps']:4.2f}x "
          f"(goal >= 0.5x), p50 {serve['p50'] / static['p50']:4.2f}x; "
          f"serve / pypiserver: throughput {serve['rps'] / pypi['rps']:5.1f}x (goal >= 50x)")
    row("serve start-up", f"{serve['startup'] * 1000:.0f} ms",
        f"{static['startup'] * 1000:.0f} ms (http.server)",
        serve["startup"] / static["startup"], "<= 500 ms", serve["startup"] <= 0.5)
    row("serve p50, project page", f"{serve['p50']:.2f} ms",
        f"{static['p50']:.2f} ms (http.server)", serve["p50"] / static["p50"], "<= 2 ms",
        serve["p50"] <= 2)
    row("serve p50, one session", f"{serve['session']:.2f} ms",
        f"{static['session']:.2f} ms (http.server)", serve["session"] / static["session"],
        "<= 2 ms", serve["session"] <= 2)
    row("serve throughput", f"{serve['rps']:.0f} req/s",
        f"{static['rps']:.0f} req/s (http.server)", serve["rps"] / static["rps"],
        ">= 0.5x", serve["rps"] / static["rps"] >= 0.5)
    row("serve throughput", f"{serve['rps']:.0f} req/s",
        f"{pypi['rps']:.0f} req/s (pypiserver)", serve["rps"] / pypi["rps"], ">= 50x",
        serve["rps"] / pypi["rps"] >= 50)
    row("serve peak RSS", f"{serve['rss']:.1f} MB", f"{static['rss']:.1f} MB (http.server)",
        serve["rss"] / static["rss"], "<= 50 MB", serve["rss"] <= 50)
    row("  pypiserver, for scale", f"{pypi['p50']:.2f} ms p50",
        f"{pypi['startup'] * 1000:.0f} ms start-up, {pypi['rss']:.1f} MB", None, "", None)


# -- 4. serve vs nginx (wrk) ------------------------------------------------------------

WRK_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n * 7919) %% #paths + 1], {["Accept"] = "%s"})
end
"""


def wrk(url: str, script: Path, connections: int, duration: float) -> tuple[float, float]:
    """(requests/s, p99 ms) from one wrk thread."""
    done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration:.0f}s",
                           "--latency", "-s", str(script), url],
                          capture_output=True, text=True, check=True)
    rps = p99 = float("nan")
    for line in done.stdout.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif parts[:1] == ["99%"]:
            value = parts[1]
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
            for unit in ("us", "ms", "s"):
                if value.endswith(unit):
                    p99 = float(value[:-len(unit)]) * scale[unit]
                    break
        elif "Non-2xx" in line or "Socket errors" in line:
            print(f"   wrk: {line.strip()}")
    return rps, p99


def nginx_server(stack: contextlib.ExitStack, repo: Path, prefix: Path) -> Server:
    port = free_port()
    prefix.mkdir(parents=True, exist_ok=True)
    conf = subprocess.run(
        [*PIPWRAP, "repo", "nginx-conf", "--repo", str(repo), "--listen", f"127.0.0.1:{port}",
         "--no-fallback", "--standalone", str(prefix)],
        capture_output=True, text=True, check=True).stdout
    if os.geteuid() == 0:
        conf = "user root;\n" + conf
    (prefix / "nginx.conf").write_text(conf)
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    return stack.enter_context(running(
        "nginx", [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g",
                  "daemon off;"], port, "/simple/", "/simple/"))


def nginx_figures(repo: Path, work: Path, duration: float) -> None:
    if not shutil.which("wrk"):
        print("   wrk is not installed (apt-get install wrk): section skipped")
        return
    projects = sorted(p.name for p in repo.iterdir() if p.is_dir() and p.name[0] != ".")
    paths = work / "paths.txt"
    paths.write_text("".join(f"/simple/{p}/\n" for p in projects))
    script = work / "pages.lua"
    script.write_text(WRK_SCRIPT % (paths, PIP_ACCEPT))
    results: dict[tuple[str, int], tuple[float, float]] = {}
    with contextlib.ExitStack() as stack:
        port = free_port()
        servers = {
            "serve": stack.enter_context(running(
                "pipwrap serve", [*PIPWRAP, "serve", "--repo", str(repo), "--port", str(port),
                                  "--no-fallback"], port, "/simple/", "/simple/")),
            "nginx": nginx_server(stack, repo, work / "nginx"),
        }
        for connections in (8, 64):
            for label, server in servers.items():
                wrk(server.url, script, connections, 1)  # warm up
                rps, p99 = wrk(server.url, script, connections, duration)
                results[label, connections] = rps, p99
                print(f"   {label:<6} {connections:>2} connections: {rps:8.0f} req/s, "
                      f"p99 {p99:6.2f} ms")
        rss = servers["serve"].peak_rss_mb()
    for connections in (8, 64):
        serve_rps, _ = results["serve", connections]
        nginx_rps, _ = results["nginx", connections]
        ratio = serve_rps / nginx_rps
        row(f"serve vs nginx, {connections} keep-alive", f"{serve_rps:.0f} req/s",
            f"{nginx_rps:.0f} req/s (nginx)", ratio, ">= 0.25x", ratio >= 0.25)
    p99 = results["serve", 64][1]
    row("serve p99, 64 keep-alive", f"{p99:.1f} ms",
        f"{results['nginx', 64][1]:.1f} ms (nginx)", None, "<= 50 ms", p99 <= 50)
    row("serve peak RSS under wrk", f"{rss:.1f} MB", "", None, "<= 60 MB", rss <= 60)


# -- 5. hostile slow clients -------------------------------------------------------------


def slow_client_figures(repo: Path, clients: int = 256, hold: float = 8.0) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    port = free_port()
    with running("pipwrap serve", [*PIPWRAP, "serve", "--repo", str(repo), "--port",
                                   str(port), "--no-fallback"], port, "/simple/",
                 "/simple/") as server:
        sockets = []
        for _ in range(clients):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /simple/ HTTP/1.1\r\nX-Slow: " + b"a" * 60000)
            sockets.append(sock)
        start = time.monotonic()
        answered: dict[int, int] = {}
        while time.monotonic() - start < hold:
            for sock in sockets[:64]:
                with contextlib.suppress(OSError):
                    sock.send(b"a")
            try:
                status, _ = get(port, "/simple/foo-bar/")
            except (OSError, http.client.HTTPException):
                status = 0
            answered[status] = answered.get(status, 0) + 1
            time.sleep(0.5)
        rss = server.peak_rss_mb()
        for sock in sockets:
            sock.close()
    print(f"   {clients} slow clients for {hold:.0f} s: peak RSS {rss:.1f} MB; a normal "
          f"client meanwhile got {answered}")
    row(f"serve peak RSS, {clients} slow clients", f"{rss:.1f} MB", "", None, "<= 100 MB",
        rss <= 100)


# -- 3. installing ---------------------------------------------------------------------


def clean_env(home: Path) -> dict[str, str]:
    """No PIP_* / UV_* from outside, no config files, HOME and XDG dirs in ``home``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "XDG_", "PIPWRAP_"))
           and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX")}
    for name in ("config", "cache", "data", "state"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env.update({
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"), "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"), "XDG_CONFIG_DIRS": str(home / "config"),
        "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1",
    })
    return env


def installed_version(site: Path) -> str:
    found = sorted(p.name for p in site.glob("foo_bar-*.dist-info"))
    if len(found) != 1:
        raise RuntimeError(f"expected one foo_bar dist-info in {site}, found {found}")
    return found[0][len("foo_bar-"):-len(".dist-info")]


def install_figures(work: Path, repo: Path) -> None:
    env = clean_env(work / "home")
    uv = shutil.which("uv", path=str(Path(PYTHON).parent)) or shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv not found (install the test extra)")
    venv = work / "venv"
    subprocess.run([uv, "venv", "--python", PYTHON, str(venv)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    site = next((venv / "lib").glob("python*/site-packages"))
    times: dict[str, dict[str, float]] = {"uv": {}, "pip": {}}
    with contextlib.ExitStack() as stack:
        servers = start_servers(stack, repo)
        for label, server in servers.items():
            uv_runs, pip_runs = [], []
            for n in range(3):
                subprocess.run([uv, "pip", "uninstall", "--python", str(venv), "foo-bar"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                uv_runs.append(timed([uv, "pip", "install", "--no-cache", "--quiet",
                                      "--python", str(venv), "--index-url", server.url,
                                      "foo-bar"], env))
                version = installed_version(site)
                if version != EXPECTED_VERSION:
                    raise RuntimeError(f"uv via {label} installed foo-bar {version}")
                target = work / f"target-{label}-{n}"
                pip_runs.append(timed([PYTHON, "-m", "pip", "install", "--no-cache-dir",
                                       "--disable-pip-version-check", "--quiet", "--no-deps",
                                       "--target", str(target), "--index-url", server.url,
                                       "foo-bar"], env))
                version = installed_version(target)
                if version != EXPECTED_VERSION:
                    raise RuntimeError(f"pip via {label} installed foo-bar {version}")
            times["uv"][label] = statistics.median(uv_runs)
            times["pip"][label] = statistics.median(pip_runs)
            print(f"   {label:<12} uv pip install {times['uv'][label] * 1000:6.0f} ms   "
                  f"pip install --target {times['pip'][label] * 1000:6.0f} ms   "
                  f"installed foo-bar {EXPECTED_VERSION} (not 1.7.0: Requires-Python >=3.99)")
            server.stop()
    for tool in ("uv", "pip"):
        ours, theirs = times[tool]["serve"], times[tool]["http.server"]
        print(f"   {tool}: serve / http.server {ours / theirs:4.2f}x (goal <= 1.1x)")
        row(f"{tool} install foo-bar via serve", f"{ours * 1000:.0f} ms",
            f"{theirs * 1000:.0f} ms (http.server)", ours / theirs, "<= 1.1x",
            ours / theirs <= 1.1)
    row("  foo-bar version installed", EXPECTED_VERSION, "", None, "1.6.0", True)


# -- main ------------------------------------------------------------------------------


# -- 4. uploads and the caching fallback ------------------------------------------------


def sized_wheel(directory: Path, name: str, version: str, size: int) -> Path:
    """A valid wheel carrying ``size`` incompressible bytes (stored)."""
    stem = name.replace("-", "_").lower()
    dist_info = f"{stem}-{version}.dist-info"
    payload = os.urandom(size)
    members = [
        (f"{stem}/__init__.py", b""),
        (f"{stem}/payload.bin", payload),
        (f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n"
         .encode()),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                               b"Tag: py3-none-any\n"),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for member, data in members:
            archive.writestr(member, data)
        archive.writestr(f"{dist_info}/RECORD", "")
    return path


def timed_get(port: int, path: str) -> float:
    start = time.perf_counter()
    status, body = get(port, path, None)
    elapsed = time.perf_counter() - start
    if status != 200 or not body:
        raise RuntimeError(f"GET {path}: {status}")
    return elapsed


CHUNK_STREAMED = 1024 * 1024  # smaller files arrive in one piece: nothing to stream


def cache_figures(work: Path) -> None:
    """A cached upstream file vs a locally held file of the same size, same server."""
    samples = 40
    for size, label in ((64 * 1024, "64 KiB"), (20 * 1024 * 1024, "20 MiB")):
        up_dist, local_dist = work / f"up-{size}", work / f"local-{size}"
        upstream_file = sized_wheel(up_dist, "upfile", "1.0", size)
        local_file = sized_wheel(local_dist, "localfile", "1.0", size)
        up_repo, local_repo = work / f"up-repo-{size}", work / f"local-repo-{size}"
        for dist, repo in ((upstream_file, up_repo), (local_file, local_repo)):
            subprocess.run([*PIPWRAP, "repo", "add", "--repo", str(repo), str(dist)],
                           check=True, stdout=subprocess.DEVNULL)
        with contextlib.ExitStack() as stack:
            up_port, port = free_port(), free_port()
            stack.enter_context(running(
                "upstream", [*PIPWRAP, "serve", "--repo", str(up_repo), "--port",
                             str(up_port), "--no-fallback"], up_port, "/simple/", "/simple/"))
            stack.enter_context(running(
                "serve --cache", [*PIPWRAP, "serve", "--repo", str(local_repo), "--port",
                                  str(port), "--fallback",
                                  f"http://127.0.0.1:{up_port}/simple/", "--cache"],
                port, "/simple/", "/simple/"))
            _status, page = get(port, "/simple/upfile/")
            href = json.loads(page)["files"][0]["url"]
            cached_path = f"/simple/upfile/{href}"
            local_path = f"/simple/localfile/{local_file.name}"
            # The cold fetch: first byte vs whole file (streamed while written).
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            start = time.perf_counter()
            connection.request("GET", cached_path)
            response = connection.getresponse()
            response.read(1)
            first_byte = time.perf_counter() - start
            response.read()
            cold = time.perf_counter() - start
            connection.close()
            for _ in range(3):  # warm both into the page cache
                timed_get(port, local_path)
                timed_get(port, cached_path)
            cached, local, ratios = [], [], []
            for _ in range(samples):  # interleaved pairs: both see the same machine state
                local.append(timed_get(port, local_path))
                cached.append(timed_get(port, cached_path))
                ratios.append(cached[-1] / local[-1])
            median_cached = statistics.median(cached) * 1000
            median_local = statistics.median(local) * 1000
        ratio = statistics.median(ratios)  # of each pair: robust to the machine's drift
        print(f"   {label}: cached {median_cached:7.2f} ms   local {median_local:7.2f} ms  "
              f"({ratio:.2f}x); cold fetch: first byte {first_byte * 1000:.1f} ms of "
              f"{cold * 1000:.1f} ms")
        row(f"serve --cache: cached {label} file (median of {samples} pairs)",
            f"{median_cached:.2f} ms", f"local file {median_local:.2f} ms", ratio,
            "<= 1.2x", ratio <= 1.2)
        if size > CHUNK_STREAMED:
            row(f"serve --cache: cold {label} fetch, first byte",
                f"{first_byte * 1000:.1f} ms", f"whole file {cold * 1000:.1f} ms",
                first_byte / cold, "streamed (< 0.5x)", first_byte / cold < 0.5)


def upload_body(path: Path) -> tuple[list[bytes], int, str]:
    boundary = "bench-boundary-7d1f0c"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in ((":action", "file_upload"), ("protocol_version", "1"),
                                ("sha256_digest", digest))).encode()
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
             f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
             ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)
    return [head, tail], length, f"multipart/form-data; boundary={boundary}"


def upload_figures(work: Path) -> None:
    """A 50 MB wheel uploaded to serve: in the pages how soon after the answer; the same
    file through `pipwrap repo add` as the baseline; serve's peak RSS after it."""
    wheel = sized_wheel(work / "upload", "bigupload", "1.0", 50 * 1000 * 1000)
    repo, baseline_repo = work / "upload-repo", work / "upload-baseline"
    start = time.perf_counter()
    subprocess.run([*PIPWRAP, "repo", "add", "--repo", str(baseline_repo), str(wheel)],
                   check=True, stdout=subprocess.DEVNULL)
    add_seconds = time.perf_counter() - start
    (head, tail), length, kind = upload_body(wheel)
    port = free_port()
    repo.mkdir()  # serve refuses a --repo that does not exist
    with running("serve", [*PIPWRAP, "serve", "--repo", str(repo), "--port", str(port),
                           "--no-fallback", "--auth", "none"], port, "/simple/",
                 "/simple/") as server:
        def body() -> Iterator[bytes]:
            yield head
            with wheel.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk
            yield tail

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start = time.perf_counter()
        connection.request("POST", "/legacy/", body=body(),
                           headers={"Content-Type": kind, "Content-Length": str(length)})
        response = connection.getresponse()
        response.read()
        answered = time.perf_counter()
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"upload answered {response.status}")
        while True:
            status, page = get(port, "/simple/bigupload/")
            if status == 200 and wheel.name.encode() in page:
                break
            if time.perf_counter() - answered > 10:
                raise RuntimeError("the upload never showed in the pages")
        visible = time.perf_counter() - answered
        upload_seconds = answered - start
        rss = server.peak_rss_mb()
    print(f"   50 MB upload: {upload_seconds:.3f} s (repo add of the same file "
          f"{add_seconds:.3f} s); in the pages {visible * 1000:.1f} ms after the answer; "
          f"serve peak RSS {rss:.0f} MB")
    row("serve: 50 MB wheel upload, in the pages after the answer", f"{visible * 1000:.1f} ms",
        "", None, "<= 200 ms", visible <= 0.2)
    row("serve: 50 MB wheel upload, whole request", f"{upload_seconds:.3f} s",
        f"repo add {add_seconds:.3f} s", upload_seconds / add_seconds, "", None)
    row("serve: peak RSS after a 50 MB upload", f"{rss:.0f} MB", "", None,
        "< 50 MB (body never held)", rss < 50)


def print_table() -> None:
    header = ("figure", "value", "baseline", "ratio", "goal")
    widths = [max(len(r[i]) for r in [header, *ROWS]) for i in range(5)]
    lines = [header, tuple("-" * w for w in widths), *ROWS]
    print()
    for line in lines:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=3.0,
                        help="seconds of load per server for requests/s (default 3)")
    parser.add_argument("--only", default="1,2,3,4,5,6", help="sections to run, e.g. 1,3")
    parser.add_argument("--naive-index", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_index:
        naive_index(args.naive_index)
        return
    sections = {s.strip() for s in args.only.split(",")}
    os.chdir(REPO)  # `python -m pipwrap` runs this checkout
    check = subprocess.run([*PIPWRAP, "repo", "--help"], capture_output=True)
    if check.returncode != 0:
        sys.exit("`python -m pipwrap repo` is not available in this checkout")

    with tempfile.TemporaryDirectory(prefix="pipwrap-bench-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        files = generate(work / "source", args.projects, args.files)
        print(f"synthetic repository: {len(files)} files, {args.projects} projects "
              f"(generated in {time.perf_counter() - start:.1f} s)")
        new = work / "new"
        new.mkdir()
        rng = random.Random(7)
        candidates = sorted({p.parent.name for p in files} - {"foo-bar"})
        added = [make_wheel(new, name.replace("-", "_").title(), f"9.0.{n}")
                 for n, name in enumerate(rng.sample(candidates, 3))]

        if "1" in sections:
            print("1. repo index: cold (median of 3), add one file (3 files), no change (5)")
            repo = index_figures(work, source=work / "source", added=added)
        else:
            repo = work / "repo"
            shutil.copytree(work / "source", repo)
            subprocess.run([*PIPWRAP, "repo", "index", "--repo", str(repo)], check=True,
                           stdout=subprocess.DEVNULL)
        if "2" in sections:
            print(f"2. serving project pages ({len(set(p.parent.name for p in files))} "
                  f"projects): serve vs http.server vs pypiserver")
            serve_figures(repo, args.duration)
        if "3" in sections:
            print("3. installing foo-bar (median of 3): serve vs http.server")
            install_figures(work, repo)
        if "4" in sections:
            print("4. serve vs nginx with wrk: project pages, 8 and 64 keep-alive clients")
            nginx_figures(repo, work, args.duration)
        if "5" in sections:
            print("5. serve under 256 hostile slow clients")
            slow_client_figures(repo)
        if "6" in sections:
            print("6. serve --cache (cached vs local file, same size, same server) and a "
                  "50 MB upload")
            cache_figures(work)
            upload_figures(work)
    print_table()


if __name__ == "__main__":
    main()
