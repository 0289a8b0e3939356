"""The fence's speed, each figure against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_fence.py

1. `wrap true` in bash, zsh and fish (the fence's liveness check included) vs the seed's
   bare one-liner (target: at most 1 ms more per call). 1b: the same with a program
   (`/bin/true`), which enters the fence's network namespace, isolation on and off, and
   the namespace's entry alone (the session's nsenter prefix before `/bin/true`, no wrap).
2. Agent cold start: `fence.open_session` with no agent running, the CA already made
   (target: 150 ms), against `python -c pass`.
3. `wrap pip install foo` vs bare `pip install foo` against the same loopback index
   (target: at most 1.05x). 3b: `wrap uv pip install foo` with a warm cache vs bare uv
   (target: at most 1.25x). Bare and wrapped runs alternate in one shell; each is given as
   the median wall time, the median of the pairs' ratios, and CPU time (the shell's
   children, user + system), and whether wrap asked the guard (`pipwrap check`).
4. A 200 MB file through the fence on loopback, sha256 checked against its page, vs the
   same download straight from the server (target: at least 100 MB/s).

Pass section names (1 1b 3 ...) to run only those; `--isolation off` for 3 and 3b under
isolation = "off" (the default profile isolates where the system allows it).
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
# The shell's CPU time and its children's, in clock ticks, into __ticks (bash and zsh).
TICKS = """
ticks() {
    local -a f
    if [[ -n ${ZSH_VERSION-} ]]; then
        read -rA f < /proc/$$/stat; __ticks=$(( f[14] + f[15] + f[16] + f[17] ))
    else
        read -r -a f < /proc/$$/stat; __ticks=$(( f[13] + f[14] + f[15] + f[16] ))
    fi
}
"""


def program_loop(shell: str, home: Path, env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Microseconds per call, wall and CPU, of `seed /bin/true` ("seed"), of the session's
    nsenter prefix before it with no wrap ("enter"), and of `wrap /bin/true` ("wrap"), in
    one shell: the builtin `true` would run in the shell (no namespace is entered)."""
    init = f"eval \"$('{sys.executable}' -m pipwrap init {shell})\""
    script = f"""
{init}
seed() {{ PIP_INDEX_URL=http://127.0.0.1:8080/simple/ "$@"; }}
enter() {{ PIP_INDEX_URL=http://127.0.0.1:8080/simple/ "${{__pipwrap_enter[@]}}" "$@"; }}
wrap /bin/true
{TICKS}
bench() {{
    local start=$EPOCHREALTIME i cpu
    ticks; cpu=$__ticks
    for ((i = 0; i < {PROGRAM_CALLS}; i++)); do "$@"; done
    ticks
    echo "$EPOCHREALTIME $start $__ticks $cpu"
}}
for round in 1 2 3; do
    bench seed /bin/true
    bench enter /bin/true
    bench __pipwrap_wrap /bin/true
done
"""
    path = home / f"program.{shell}"
    path.write_text(script)
    argv = {"bash": ["bash", str(path)],
            "zsh": ["zsh", "-c", f"zmodload zsh/datetime; source {path}"]}[shell]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    tick = 1e6 / os.sysconf("SC_CLK_TCK")
    rounds = [((float(end) - float(start)) * 1e6 / PROGRAM_CALLS,
               (int(cpu_end) - int(cpu_start)) * tick / PROGRAM_CALLS)
              for end, start, cpu_end, cpu_start in map(str.split, out.splitlines())]
    return {name: (statistics.median(r[0] for r in rounds[offset::3]),
                   statistics.median(r[1] for r in rounds[offset::3]))
            for offset, name in enumerate(("seed", "enter", "wrap"))}


def paired(home: Path, env: dict[str, str], name: str, prepare: list[str],
           bare: str, wrapped: str, rounds: int) -> tuple[dict[str, list[float]], bool]:
    """Bare and wrapped runs in turn in one bash (``{n}`` in each is the round): per kind,
    wall seconds per run and the children's CPU seconds per run; and whether wrap asks
    the guard for this command."""
    init = f"eval \"$('{sys.executable}' -m pipwrap init bash)\""
    lines = [init, "wrap true", TICKS, "t() { local s=$EPOCHREALTIME c; ticks; c=$__ticks; "
             "\"$@\" >/dev/null 2>&1 || echo FAIL \"$@\" >&2; ticks; "
             "echo \"$1 $s $EPOCHREALTIME $c $__ticks\"; }",
             f"__pipwrap_needs_check {wrapped.format(n='x')} && echo guard >&2", *prepare]
    for n in range(rounds):
        lines.append(f"t env {bare.format(n=n)}")
        lines.append(f"t wrap {wrapped.format(n=n)}")
    script = home / f"{name}.sh"
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                         check=True)
    if "FAIL" in out.stderr:
        raise SystemExit(out.stderr)
    tick = 1 / os.sysconf("SC_CLK_TCK")
    times: dict[str, list[float]] = {"env": [], "wrap": [], "env_cpu": [], "wrap_cpu": []}
    for line in out.stdout.splitlines():
        kind, start, end, cpu_start, cpu_end = line.split()
        times[kind].append(float(end) - float(start))
        times[kind + "_cpu"].append((int(cpu_end) - int(cpu_start)) * tick)
    return times, "guard" in out.stderr


def report(times: dict[str, list[float]], asked: bool, target: float) -> str:
    b, w = statistics.median(times["env"]), statistics.median(times["wrap"])
    pairs = statistics.median(x / y for x, y in zip(times["wrap"], times["env"]))
    cpu = sum(times["wrap_cpu"]) / max(sum(times["env_cpu"]), 1e-9)
    return (f"   bare {b * 1000:6.1f} ms   wrap {w * 1000:6.1f} ms   ratio "
            f"{w / b:.3f} (pairs {pairs:.3f}; target <= {target})   CPU bare "
            f"{statistics.mean(times['env_cpu']) * 1000:5.1f} ms wrap "
            f"{statistics.mean(times['wrap_cpu']) * 1000:5.1f} ms ({cpu:.3f})   "
            f"{'wrap asks the guard' if asked else 'no guard (fast path)'}")


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

        args = sys.argv[1:]
        isolation = "auto"
        if "--isolation" in args:
            isolation = args.pop(args.index("--isolation") + 1)
            args.remove("--isolation")
        only = args
        if not only or "1" in only:
            print("1. wrap true, per call (fence liveness check included; a builtin enters "
                  "no namespace)")
        for shell in ("bash", "zsh", "fish"):
            if shutil.which(shell) and (not only or "1" in only):
                figures = shell_loop(shell, home, env)
                (seed, seed_cpu), (wrap, wrap_cpu) = figures["seed"], figures["wrap"]
                print(f"   {shell:5} seed {seed:7.1f} us   wrap {wrap:7.1f} us   overhead "
                      f"{(wrap - seed) / 1000:.3f} ms (target <= 1 ms)   CPU seed "
                      f"{seed_cpu:6.1f} us wrap {wrap_cpu:6.1f} us overhead "
                      f"{(wrap_cpu - seed_cpu) / 1000:.3f} ms")

        if not only or "1b" in only:
            print("1b. wrap /bin/true (a program: it enters the fence's network namespace) vs "
                  "the seed's one-liner running the same program; per call, wall (CPU)")
            for shell in ("bash", "zsh"):
                if shutil.which(shell):
                    for mode in ("auto", "off"):
                        config.write_text(f'default = "b"\n[profiles.b]\nindex-url = "{url}"\n'
                                          f'isolation = "{mode}"\n')
                        got = program_loop(shell, home, env)
                        (seed, seed_cpu), (wrap, wrap_cpu) = got["seed"], got["wrap"]
                        enter = (f"   nsenter alone +{(got['enter'][0] - seed) / 1000:.3f} ms "
                                 f"(+{(got['enter'][1] - seed_cpu) / 1000:.3f})"
                                 if mode == "auto" else "")
                        print(f"   {shell:5} isolation={mode:4} seed {seed:7.1f} us "
                              f"({seed_cpu:6.1f})   wrap {wrap:7.1f} us ({wrap_cpu:6.1f})   "
                              f"overhead {(wrap - seed) / 1000:.3f} ms "
                              f"({(wrap_cpu - seed_cpu) / 1000:.3f}; target <= 1 ms){enter}")
        config.write_text(f'default = "b"\n[profiles.b]\nindex-url = "{url}"\n'
                          f'isolation = "{isolation}"\n')
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
        print(f"3. pip install foo, bare vs wrap (same index, fresh target each run; "
              f"isolation = {isolation})")
        pip = shutil.which("pip", path=str(Path(sys.executable).parent)) or "pip"
        times, asked = paired(
            home, env, "pip", [], f"PIP_INDEX_URL={url} {pip} install --no-cache-dir -q "
            f"--target {home}/bare{{n}} foo",
            f"{pip} install --no-cache-dir -q --target {home}/wrap{{n}} foo", rounds=9)
        print(report(times, asked, 1.05))

        print("3b. uv pip install foo with a warm cache, bare vs wrap")
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        install = f"{uv} pip install -q --python {sys.executable} --target"
        times, asked = paired(
            home, env, "uv", [f"env UV_INDEX_URL={url} {install} {home}/uvwarm foo"],
            f"UV_INDEX_URL={url} {install} {home}/uvbare{{n}} foo",
            f"{install} {home}/uvwrap{{n}} foo", rounds=41)
        print(report(times, asked, 1.25))

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
