"""What the init line costs a new shell, against the same shell without it, in one run.

    .venv/bin/python benchmarks/bench_startup.py [--runs 40] [--compare TREE]

1. A new interactive bash, zsh and fish (`bash -i -c exit`, `zsh -i -c exit`,
   `fish -i -c exit`) with an empty rc file, and with the line README gives:
   `eval "$(pipwrap init bash)"` (zsh alike), `pipwrap init fish | source` in
   config.fish. Target: at most +25 ms (zoxide and direnv take ~5 ms). "cold" removes the
   kept code before each start: the first shell after an install or an upgrade, which
   renders as every shell did before the cache.
2. Where the time goes: the interpreter's start-up (`python -c pass`, and `-I -S`), the
   console script's own `import re`, `pipwrap init bash` served from the cache and
   rendered.
3. `--compare TREE`: the same line running the pipwrap of another checkout (e.g. a
   worktree of main) through an identical console script, for a before/after in one run.

`pipwrap` is a console script like the one pip or pipx writes (a direct shebang to this
interpreter). Through a pyenv shim add the shim's own 50-80 ms, which no snippet can
save. Variants are interleaved round by round; medians of wall time and of CPU time
(user + system of the shell and its children: steadier on a loaded machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The template pip (distlib) writes for a console script, plus the checkout to import.
CONSOLE_SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
sys.path.insert(0, {tree!r})
from pipwrap.cli.main import main_entry
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main_entry())
"""


def console_script(directory: Path, tree: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "pipwrap"
    script.write_text(CONSOLE_SCRIPT.format(python=sys.executable, tree=str(tree)))
    script.chmod(0o755)
    return script


def shell_start(shell: str, home: Path, line: str | None) -> tuple[list[str], dict[str, str]]:
    """argv and extra environment of a new interactive ``shell`` whose rc holds ``line``."""
    rc_dir = home / f"rc-{shell}-{abs(hash(line))}"
    rc_dir.mkdir(exist_ok=True)
    text = (line or "") + "\n"
    if shell == "bash":
        (rc_dir / "bashrc").write_text(text)
        return ["bash", "--noprofile", "--rcfile", str(rc_dir / "bashrc"), "-i", "-c",
                "exit"], {}
    if shell == "zsh":
        (rc_dir / ".zshrc").write_text(text)
        return ["zsh", "-i", "-c", "exit"], {"ZDOTDIR": str(rc_dir)}
    (rc_dir / "fish").mkdir(exist_ok=True)
    (rc_dir / "fish" / "config.fish").write_text(text)
    return ["fish", "-i", "-c", "exit"], {"XDG_CONFIG_HOME": str(rc_dir)}


def init_line(shell: str, script: Path) -> str:
    if shell == "fish":
        return f"'{script}' init fish | source"
    return f"eval \"$('{script}' init {shell})\""


def timed(argv: list[str], env: dict[str, str], before: Path | None = None,
          cwd: Path | None = None) -> tuple[float, float]:
    """Wall and CPU (user + system, the process and its children) milliseconds for one
    run; ``before``: a directory removed first (the kept code). CPU time moves far less
    than wall time when other jobs load the machine."""
    if before is not None:
        shutil.rmtree(before, ignore_errors=True)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL, check=False, timeout=120, cwd=cwd)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime) * 1000
    return wall, cpu


def interleaved(variants: dict[str, tuple[list[str], dict[str, str], Path | None]],
                runs: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU milliseconds per variant, the variants taking turns in every
    round."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for argv, env, _before in variants.values():
        timed(argv, env)  # warm the page cache and the kept code
    for _ in range(runs):
        for name, (argv, env, before) in variants.items():
            times[name].append(timed(argv, env, before))
    return {name: (statistics.median(w for w, _ in values),
                   statistics.median(c for _, c in values))
            for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--compare", type=Path, metavar="TREE",
                        help="also measure the init line of the pipwrap checkout in TREE")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        cache = home / "cache"
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "TERM": "dumb",
               "XDG_CACHE_HOME": str(cache), "XDG_CONFIG_DIRS": str(home / "xdg"),
               "PIPWRAP_CONFIG": str(home / "config.toml"), "HISTFILE": str(home / "hist")}
        kept = cache / "pipwrap" / "init"
        this = console_script(home / "this", REPO)
        other = console_script(home / "other", options.compare) if options.compare else None

        print(f"1. a new interactive shell (median of {options.runs}, interleaved)")
        for shell in ("bash", "zsh", "fish"):
            if shutil.which(shell) is None:
                print(f"   {shell}: not installed")
                continue
            variants = {}
            for label, line, before in (
                    ("none", None, None), ("init line", init_line(shell, this), None),
                    ("init line, cold", init_line(shell, this), kept),
                    *((("compared tree", init_line(shell, other), None),) if other else ())):
                argv, extra = shell_start(shell, home, line)
                variants[label] = (argv, {**env, **extra}, before)
            medians = interleaved(variants, options.runs)
            base, base_cpu = medians.pop("none")
            print(f"   {shell}: none {base:5.1f} ms (CPU {base_cpu:5.1f} ms)"
                  "  (target: init line <= +25 ms)")
            for label, (took, cpu) in medians.items():
                print(f"      {label:<17}{took:6.1f} ms (+{took - base:6.1f} ms, "
                      f"{took / base:5.2f}x)  CPU {cpu:6.1f} ms (+{cpu - base_cpu:6.1f} ms)")

        print(f"2. where the time goes (median of {options.runs}, interleaved)")
        pieces = {
            "python -I -S -c pass": [sys.executable, "-I", "-S", "-c", "pass"],
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import re'": [sys.executable, "-c", "import re"],
            "pipwrap init bash (kept)": [str(this), "init", "bash"],
        }
        variants = {label: (argv, env, None) for label, argv in pieces.items()}
        variants["pipwrap init bash (rendered)"] = ([str(this), "init", "bash"], env, kept)
        if other:
            variants["compared tree: init bash"] = ([str(other), "init", "bash"], env, None)
        medians = interleaved(variants, options.runs)
        base, base_cpu = medians["python -c pass"]
        for label, (took, cpu) in medians.items():
            print(f"   {label:<30}{took:6.1f} ms  ({took / base:4.2f}x python -c pass)"
                  f"  CPU {cpu:6.1f} ms ({cpu - base_cpu:+6.1f} ms)")


if __name__ == "__main__":
    main()
