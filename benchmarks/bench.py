"""Speed figures, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench.py

1. `wrap true` in bash, zsh and fish vs the seed's bare one-liner
   `seed() { PIP_INDEX_URL=... "$@"; }` (target: at most +0.5 ms per call in bash and
   zsh, +1 ms in fish). Also the cost of one `[[ -s FILE ]]` (fish: `test -s FILE`)
   after the command, measured as the seed with that test added: the fence's refusal
   report is looked for that way after every wrapped command.
2. `pipwrap list` / `pipwrap current` vs `python -I -c pass` (target: at most 2x).
3. The requirement-file guard on a 200-line file with 3 nested includes (target: 40 ms).
4. `pipwrap test` over 8 local indexes, one answering after 1 s: the total against that
   slowest index probed alone and against the sum of probing each alone (target: about
   the slowest, not the sum).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CALLS = 2000


FISH_SCRIPT = """
{python} -m pipwrap init fish | source
function seed; PIP_INDEX_URL=http://127.0.0.1:8080/simple/ $argv; end
function seedtest; PIP_INDEX_URL=http://127.0.0.1:8080/simple/ $argv; test -s /nonexistent; end
wrap true
function ticks
    read -a f < /proc/$fish_pid/stat
    math $f[14] + $f[15] + $f[16] + $f[17]
end
function bench
    set -l calls (seq {calls})
    set -l cpu (ticks)
    set -l start (date +%s%N)
    for i in $calls; $argv; end
    echo (math (date +%s%N) / 1000) (math $start / 1000) (ticks) $cpu
end
bench seed true
bench __pipwrap_wrap true
bench seedtest true
bench seed true
bench __pipwrap_wrap true
bench seedtest true
"""


def shell_loop(shell: str, home: Path, env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Microseconds per call, wall and CPU, for the seed function ("seed"), for wrap
    ("wrap"), and for the seed with one file test after the command ("test"), in one shell
    process. CPU is the shell's user + system time and its children's, from
    /proc/PID/stat (Linux; clock ticks, 10 ms): it moves far less than wall time when
    other jobs load the machine."""
    init = f"eval \"$('{sys.executable}' -m pipwrap init {shell})\""
    script = f"""
{init}
seed() {{ PIP_INDEX_URL=http://127.0.0.1:8080/simple/ "$@"; }}
seedtest() {{ PIP_INDEX_URL=http://127.0.0.1:8080/simple/ "$@"; [[ -s /nonexistent ]]; }}
wrap true
ticks() {{
    local -a f
    if [[ -n ${{ZSH_VERSION-}} ]]; then
        read -rA f < /proc/$$/stat; __ticks=$(( f[14] + f[15] + f[16] + f[17] ))
    else
        read -r -a f < /proc/$$/stat; __ticks=$(( f[13] + f[14] + f[15] + f[16] ))
    fi
}}
bench() {{
    local start=$EPOCHREALTIME i cpu
    ticks; cpu=$__ticks
    for ((i = 0; i < {CALLS}; i++)); do "$@"; done
    ticks
    echo "$EPOCHREALTIME $start $__ticks $cpu"
}}
bench seed true
bench __pipwrap_wrap true
bench seedtest true
bench seed true
bench __pipwrap_wrap true
bench seedtest true
"""
    if shell == "fish":
        # fish has no clock variable; `date` runs twice per round, not per call.
        script = FISH_SCRIPT.format(python=sys.executable, calls=CALLS)
    path = home / f"bench.{shell}"
    path.write_text(script)
    argv = {"bash": ["bash", str(path)], "fish": ["fish", "--no-config", str(path)],
            "zsh": ["zsh", "-c", f"zmodload zsh/datetime; source {path}"]}[shell]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    scale = 1 if shell == "fish" else 1e6  # fish reports microseconds already
    tick = 1e6 / os.sysconf("SC_CLK_TCK")
    rounds = [(float(end) - float(start), (int(cpu_end) - int(cpu_start)) * tick)
              for end, start, cpu_end, cpu_start in map(str.split, out.splitlines())]
    figures = {}
    for offset, name in enumerate(("seed", "wrap", "test")):
        first, second = rounds[offset], rounds[offset + 3]
        figures[name] = (min(first[0], second[0]) / CALLS * scale,
                         min(first[1], second[1]) / CALLS)
    return figures


@contextmanager
def index_server(delay: float) -> Iterator[str]:
    """A PEP 691 index root on 127.0.0.1 that answers after ``delay`` seconds."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay)
            body = b'{"meta": {"api-version": "1.0"}, "projects": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()


def probe_figures(home: Path, env: dict[str, str]) -> None:
    delays = [1.0] + [0.0] * 7
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(index_server(d)) for d in delays]
        config = home / "probe.toml"
        config.write_text("".join(f'[profiles.i{n}]\nindex-url = "{url}"\n'
                                  for n, url in enumerate(urls)))
        probe_env = {**env, "PIPWRAP_CONFIG": str(config)}
        command = [sys.executable, "-I", "-m", "pipwrap", "test", "--timeout", "5"]
        all_at_once = median_ms(command, probe_env, runs=3)
        alone = [median_ms([*command, f"i{n}"], probe_env, runs=3) for n in range(len(urls))]
    print(f"   all {len(urls)} at once {all_at_once:7.1f} ms; the slow one alone "
          f"{alone[0]:7.1f} ms (ratio {all_at_once / alone[0]:4.2f}x); each alone, summed "
          f"{sum(alone):7.1f} ms (ratio {all_at_once / sum(alone):4.2f}x)")


def median_ms(argv: list[str], env: dict[str, str], runs: int = 15,
              cwd: Path | None = None, before: Path | None = None) -> float:
    """``before``: a file removed ahead of each run (the config snapshot, for a cold read)."""
    times = []
    for _ in range(runs):
        if before is not None:
            before.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True, cwd=cwd)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def requirement_tree(root: Path) -> Path:
    for level in range(3, 0, -1):
        lines = [f"pkg-{level}-{i}>=1.0  # comment {i}" for i in range(50)]
        if level < 3:
            lines.append(f"-r nested{level + 1}.txt")
        (root / f"nested{level}.txt").write_text("\n".join(lines) + "\n")
    top = [f"package-{i}==1.{i} \\\n    --hash=sha256:{'0' * 64}" for i in range(45)]
    top += ["-r nested1.txt", "--prefer-binary", "-c nested3.txt"]
    (root / "requirements.txt").write_text("\n".join(top) + "\n")
    return root / "requirements.txt"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        config = home / "config.toml"
        config.write_text('default = "local"\n[profiles.local]\n'
                          'index-url = "http://127.0.0.1:8080/simple/"\n')
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "PIPWRAP_CONFIG": str(config),
               "XDG_CONFIG_DIRS": str(home / "xdg"), "XDG_CACHE_HOME": str(home / "cache")}

        print(f"1. wrap per call ({CALLS} calls, best of 2 rounds)")
        for shell in ("bash", "zsh", "fish"):
            figures = shell_loop(shell, home, env)
            (seed, seed_cpu), (wrap, wrap_cpu) = figures["seed"], figures["wrap"]
            target = 1000 if shell == "fish" else 500
            print(f"   {shell}: seed {seed:7.1f} us  wrap {wrap:7.1f} us  "
                  f"extra {wrap - seed:6.1f} us/call  (target <= {target} us); CPU: seed "
                  f"{seed_cpu:6.1f} us  wrap {wrap_cpu:6.1f} us  extra "
                  f"{wrap_cpu - seed_cpu:6.1f} us; one file test after the command "
                  f"{figures['test'][0] - seed:5.1f} us (CPU "
                  f"{figures['test'][1] - seed_cpu:5.1f} us)")

        print("2. CLI start-up (median of 15; the config's snapshot is warm after run 1)")
        base = median_ms([sys.executable, "-I", "-c", "pass"], env)
        print(f"   {'python -I -c pass':<29}{base:6.1f} ms")
        project = home / "project"
        project.mkdir()
        (project / ".pipwrap.toml").write_text('profile = "local"\n')
        script = Path(sys.executable).with_name("pipwrap")
        launchers = [("pipwrap", [str(script)])] if script.exists() else []
        launchers.append(("python -I -m pipwrap", [sys.executable, "-I", "-m", "pipwrap"]))
        subprocess.run([*launchers[-1][1], "allow", str(project)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        for label, launcher in launchers:
            for command, cwd in (("list", None), ("current", None), ("current", project)):
                took = median_ms([*launcher, command], env, cwd=cwd)
                where = " (allowed .pipwrap.toml)" if cwd else ""
                print(f"   {label + ' ' + command:<29}{took:6.1f} ms  ratio {took / base:4.2f}x"
                      f"  (target <= 2x){where}")
        cold = median_ms([*launchers[0][1], "list"], env,
                         before=home / "cache" / "pipwrap" / "config.snapshot")
        print(f"   {launchers[0][0] + ' list, cold':<29}{cold:6.1f} ms  ratio {cold / base:4.2f}x"
              "  (config parsed: right after an edit)")

        print("3. requirement-file guard: 200 lines, 3 nested includes")
        req = requirement_tree(home)
        lines = sum(len(p.read_text().splitlines()) for p in home.glob("*.txt"))
        sys.path.insert(0, str(REPO))
        from pipwrap import guard

        os.chdir(home)
        runs = []
        for _ in range(20):
            start = time.perf_counter()
            guard.check(["pip", "install", "-r", str(req)], env)
            runs.append((time.perf_counter() - start) * 1000)
        print(f"   {lines} lines: in-process {statistics.median(runs):5.1f} ms;", end=" ")
        took = median_ms([sys.executable, "-I", "-m", "pipwrap", "check", "--", "pip",
                          "install", "-r", str(req)], env)
        print(f"whole `pipwrap check` {took:5.1f} ms vs python -I -c pass {base:5.1f} ms"
              "  (target <= 40 ms)")
        launched = median_ms([sys.executable, "-I", "-m", "pipwrap", "check", "--", "env",
                              "nice", "python3", "-Im", "pip", "install", "--pre", "foo"], env)
        print(f"   a launcher chain (env nice python -Im pip ...): whole `pipwrap check` "
              f"{launched:5.1f} ms ({launched / base:4.2f}x python -I -c pass)")


        print("4. pipwrap test: 8 local indexes, one answering after 1 s (median of 3)")
        probe_figures(home, env)


if __name__ == "__main__":
    main()
