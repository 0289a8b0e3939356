"""The fence's speed, each figure against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_fence.py

1. `wrap true` in bash, zsh and fish (the fence's liveness check included) vs the seed's
   bare one-liner (target: at most 1 ms more per call). 1b: the same with a program
   (`/bin/true`), which enters the fence's network namespace, isolation on and off.
2. Agent cold start: `fence.open_session` with no agent running, the CA already made
   (target: 150 ms), against `python -c pass`.
3. `wrap pip install foo` vs bare `pip install foo` against the same loopback index
   (target: at most 1.05x).
4. A 200 MB file through the fence on loopback, sha256 checked against its page, vs the
   same download straight from the server (target: at least 100 MB/s).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench import shell_loop  # noqa: E402

from pipwrap import fence  # noqa: E402

BIG = 200 * 1024 * 1024


class Quiet(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass


def serve(root: Path) -> tuple[ThreadingHTTPServer, str]:
    def handler(*args: object) -> Quiet:
        return Quiet(*args, directory=str(root))  # type: ignore[arg-type]

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/simple/"


def index_tree(root: Path, big: bool) -> None:
    (root / "simple" / "foo").mkdir(parents=True)
    wheel = root / "simple" / "foo" / "foo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("foo/__init__.py", "VERSION = '1.0'\n")
        archive.writestr("foo-1.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n\n")
        archive.writestr("foo-1.0.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n")
        archive.writestr("foo-1.0.dist-info/RECORD", "")
    links = [(wheel.name, hashlib.sha256(wheel.read_bytes()).hexdigest())]
    (root / "simple" / "foo" / "index.html").write_text("".join(
        f'<a href="{name}#sha256={sha}">{name}</a>\n' for name, sha in links))
    if big:
        (root / "simple" / "big").mkdir()
        blob = root / "simple" / "big" / "big-2.0.tar.gz"
        digest = hashlib.sha256()
        with blob.open("wb") as handle:
            chunk = os.urandom(1024 * 1024)
            for _ in range(BIG // len(chunk)):
                handle.write(chunk)
                digest.update(chunk)
        (root / "simple" / "big" / "index.html").write_text(
            f'<a href="{blob.name}#sha256={digest.hexdigest()}">{blob.name}</a>\n')


def download(url: str, proxy: tuple[str, int] | None, token: str = "") -> float:
    """Seconds to GET ``url`` (a raw HTTP/1.1 client: measures the fence, not urllib)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = proxy or (parts.hostname or "", parts.port or 80)
    target = url if proxy else parts.path
    auth = ""
    if proxy:
        import base64

        auth = "Proxy-Authorization: Basic " + base64.b64encode(
            f"pipwrap:{token}".encode()).decode() + "\r\n"
    started = time.perf_counter()
    with socket.create_connection((host, port)) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
                     "Connection: close\r\n\r\n".encode())
        total = 0
        buffer = bytearray(1024 * 1024)
        while True:
            n = conn.recv_into(buffer)
            if not n:
                break
            total += n
    elapsed = time.perf_counter() - started
    assert total > BIG, total
    return elapsed


PROGRAM_CALLS = 500


def program_loop(shell: str, home: Path, env: dict[str, str]) -> tuple[float, float]:
    """Microseconds per call of `seed /bin/true` and `wrap /bin/true`, in one shell: the
    builtin `true` would run in the shell (no namespace is entered for a builtin)."""
    init = f"eval \"$('{sys.executable}' -m pipwrap init {shell})\""
    script = f"""
{init}
seed() {{ PIP_INDEX_URL=http://127.0.0.1:8080/simple/ "$@"; }}
wrap /bin/true
bench() {{
    local start=$EPOCHREALTIME i
    for ((i = 0; i < {PROGRAM_CALLS}; i++)); do "$@"; done
    echo "$EPOCHREALTIME $start"
}}
bench seed /bin/true
bench __pipwrap_wrap /bin/true
bench seed /bin/true
bench __pipwrap_wrap /bin/true
bench seed /bin/true
bench __pipwrap_wrap /bin/true
"""
    path = home / f"program.{shell}"
    path.write_text(script)
    argv = {"bash": ["bash", str(path)],
            "zsh": ["zsh", "-c", f"zmodload zsh/datetime; source {path}"]}[shell]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    spans = [float(end) - float(start) for end, start in map(str.split, out.splitlines())]
    seed = statistics.median(spans[0::2]) / PROGRAM_CALLS * 1e6
    wrap = statistics.median(spans[1::2]) / PROGRAM_CALLS * 1e6
    return seed, wrap


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        root = home / "index"
        index_tree(root, big=True)
        server, url = serve(root)
        config = home / "config.toml"
        config.write_text(f'default = "b"\n[profiles.b]\nindex-url = "{url}"\n')
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "PIPWRAP_CONFIG": str(config),
               "XDG_CONFIG_DIRS": str(home / "xdg"), "XDG_CACHE_HOME": str(home / "cache"),
               "XDG_DATA_HOME": str(home / "data"), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
               "PIPWRAP_FENCE_IDLE": "5"}
        os.environ.update({k: env[k] for k in ("HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME")})

        only = sys.argv[1:]
        print("1. wrap true, per call (fence liveness check included)")
        for shell in ("bash", "zsh", "fish"):
            if shutil.which(shell) and (not only or "1" in only):
                seed, wrap = shell_loop(shell, home, env)
                print(f"   {shell:5} seed {seed:7.1f} us   wrap {wrap:7.1f} us   "
                      f"overhead {(wrap - seed) / 1000:.3f} ms (target <= 1 ms)")

        if not only or "1b" in only:
            print("1b. wrap /bin/true (a program: it enters the fence's network namespace) vs "
                  "the seed's one-liner running the same program")
            for shell in ("bash", "zsh"):
                if shutil.which(shell):
                    for mode in ("auto", "off"):
                        config.write_text(f'default = "b"\n[profiles.b]\nindex-url = "{url}"\n'
                                          f'isolation = "{mode}"\n')
                        seed, wrap = program_loop(shell, home, env)
                        print(f"   {shell:5} isolation={mode:4} seed {seed:7.1f} us   wrap "
                              f"{wrap:7.1f} us   overhead {(wrap - seed) / 1000:.3f} ms "
                              "(target <= 1 ms)")
            config.write_text(f'default = "b"\n[profiles.b]\nindex-url = "{url}"\n')
        print("2. agent cold start (CA already made)")
        fence.open_session(url, owner_pid=os.getpid(), report=False)  # makes the CA
        colds = []
        for _ in range(7):
            _kill_agent()
            started = time.perf_counter()
            fence.open_session(url, owner_pid=os.getpid(), report=False)
            colds.append(time.perf_counter() - started)
        warm = []
        for _ in range(7):
            started = time.perf_counter()
            fence.open_session(url, owner_pid=os.getpid(), report=False)
            warm.append(time.perf_counter() - started)
        bare = []
        for _ in range(7):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            bare.append(time.perf_counter() - started)
        print(f"   cold {statistics.median(colds) * 1000:6.1f} ms (target <= 150 ms)   "
              f"agent already up {statistics.median(warm) * 1000:5.1f} ms   "
              f"python -c pass {statistics.median(bare) * 1000:5.1f} ms")

        if only and "3" not in only:
            return
        print("3. pip install foo, bare vs wrap (same index, fresh target each run)")
        init = f"eval \"$('{sys.executable}' -m pipwrap init bash)\""
        pip = shutil.which("pip", path=str(Path(sys.executable).parent)) or "pip"
        script = home / "pip.sh"
        rounds = 7
        lines = [init, "wrap true", "t() { local s=$EPOCHREALTIME; \"$@\" >/dev/null 2>&1 || "
                 "echo FAIL \"$@\" >&2; echo \"$1 $s $EPOCHREALTIME\"; }"]
        for n in range(rounds):
            lines.append(f"t env PIP_INDEX_URL={url} {pip} install --no-cache-dir -q "
                         f"--target {home}/bare{n} foo")
            lines.append(f"t wrap {pip} install --no-cache-dir -q --target {home}/wrap{n} foo")
        script.write_text("\n".join(lines) + "\n")
        out = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                             check=True)
        times: dict[str, list[float]] = {"env": [], "wrap": []}
        for line in out.stdout.splitlines():
            kind, start, end = line.split()
            times[kind].append(float(end) - float(start))
        b, w = statistics.median(times["env"]), statistics.median(times["wrap"])
        print(f"   bare {b * 1000:6.0f} ms   wrap {w * 1000:6.0f} ms   ratio {w / b:.3f} "
              f"(target <= 1.05){'  ' + out.stderr.strip() if 'FAIL' in out.stderr else ''}")

        print("3b. uv pip install foo with a warm cache, bare vs wrap")
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        script = home / "uv.sh"
        lines = [init, "wrap true", "t() { local s=$EPOCHREALTIME; \"$@\" >/dev/null 2>&1 || "
                 "echo FAIL \"$@\" >&2; echo \"$1 $s $EPOCHREALTIME\"; }",
                 f"env UV_INDEX_URL={url} {uv} pip install -q --python {sys.executable} "
                 f"--target {home}/uvwarm foo"]
        for n in range(rounds):
            lines.append(f"t env UV_INDEX_URL={url} {uv} pip install -q --python "
                         f"{sys.executable} --target {home}/uvbare{n} foo")
            lines.append(f"t wrap {uv} pip install -q --python {sys.executable} "
                         f"--target {home}/uvwrap{n} foo")
        script.write_text("\n".join(lines) + "\n")
        out = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                             check=True)
        times = {"env": [], "wrap": []}
        for line in out.stdout.splitlines():
            kind, start, end = line.split()
            times[kind].append(float(end) - float(start))
        b, w = statistics.median(times["env"]), statistics.median(times["wrap"])
        print(f"   bare {b * 1000:6.1f} ms   wrap {w * 1000:6.1f} ms   ratio {w / b:.2f} "
              f"(target <= 1.25){'  ' + out.stderr.strip() if 'FAIL' in out.stderr else ''}")

        print("4. a 200 MB file through the fence (sha256 checked against its page)")
        session = fence.open_session(url, owner_pid=os.getpid(), report=False)
        token = session.proxy_url.split("pipwrap:", 1)[1].split("@", 1)[0]
        port = int(session.proxy_url.rsplit(":", 1)[1])
        _get_page(url + "big/", port, token)
        blob = url + "big/big-2.0.tar.gz"
        direct = min(download(blob, None) for _ in range(3))
        fenced = min(download(blob, ("127.0.0.1", port), token) for _ in range(3))
        mb = BIG / 1e6
        print(f"   direct {mb / direct:6.0f} MB/s   through the fence {mb / fenced:6.0f} MB/s "
              "(target >= 100 MB/s)")
        _kill_agent()
        server.shutdown()


def _get_page(url: str, port: int, token: str) -> None:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler(
        {"http": f"http://pipwrap:{token}@127.0.0.1:{port}"}))
    with opener.open(url) as response:
        response.read()


def _kill_agent() -> None:
    import struct

    path = Path(os.environ["XDG_CACHE_HOME"]) / "pipwrap" / "fence-agent" / "agent.sock"
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(path))
            pid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                      12))[0]
    except OSError:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.005)
    path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
