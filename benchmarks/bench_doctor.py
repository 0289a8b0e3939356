"""`pipwrap doctor`'s time, against the interpreter's start-up measured in the same run.

    .venv/bin/python benchmarks/bench_doctor.py [--runs 15] [--compare TREE]

Three places (target: at most 0.5 s each):

1. PATH as it is here: on the development machines pyenv's shims come first, so each
   `pip`/`python` doctor asks for its prefix goes through a shim (50-80 ms alone).
2. PATH with only this venv's bin and the system's: a venv or pipx user.
3. (2) inside a uv project whose pyproject.toml names another index and which has a
   uv.lock, a tox.ini and a uv.toml: the project section asks the guard per tool.

Baseline: `python -I -c pass`; wall and CPU time (steadier on a loaded machine).
`--compare TREE` also runs the doctor of another checkout (e.g. an export of main)
through an identical console script, for a before/after in one run. Commands take turns
round by round; medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import REPO, console_script, timed

UV_PROJECT = """[project]
name = "demo"
version = "0"
dependencies = ["foo"]

[[tool.uv.index]]
name = "upstream"
url = "https://upstream.example/simple/"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", type=Path, metavar="TREE")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        project = home / "project"
        project.mkdir()
        (project / "pyproject.toml").write_text(UV_PROJECT)
        (project / "uv.lock").write_text("version = 1\nrequires-python = \">=3.9\"\n")
        (project / "tox.ini").write_text("[tox]\nenv_list = py\n")
        (project / "uv.toml").write_text('[[index]]\nurl = "https://up.example/simple/"\n')
        this = console_script(home / "this", REPO)
        other = console_script(home / "other", options.compare) if options.compare else None
        base_env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"),
                    "XDG_CONFIG_HOME": str(home / "config"),
                    "XDG_CONFIG_DIRS": str(home / "xdg"), "TERM": "dumb"}
        places = {
            "PATH as here": ({**base_env, "PATH": os.environ["PATH"]}, home),
            "venv + system PATH": ({**base_env, "PATH": f"{Path(sys.executable).parent}:"
                                    "/usr/bin:/bin"}, home),
            "in a uv project": ({**base_env, "PATH": f"{Path(sys.executable).parent}:"
                                 "/usr/bin:/bin"}, project),
        }
        commands: dict[str, tuple[list[str], dict[str, str], Path]] = {
            "python -I -c pass": ([sys.executable, "-I", "-c", "pass"],
                                  places["PATH as here"][0], home)}
        for place, (env, cwd) in places.items():
            commands[f"doctor, {place}"] = ([str(this), "doctor"], env, cwd)
            if other is not None:
                commands[f"compared tree's doctor, {place}"] = ([str(other), "doctor"], env,
                                                                 cwd)
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        for argv, env, cwd in commands.values():
            timed(argv, env, cwd=cwd)  # warm up: page cache, .pyc files
        for _ in range(options.runs):
            for label, (argv, env, cwd) in commands.items():
                times[label].append(timed(argv, env, cwd=cwd))
        base = statistics.median(w for w, _ in times["python -I -c pass"])
        print(f"pipwrap doctor (median of {options.runs}, interleaved; target <= 500 ms; "
              "CPU: user + system, children included)")
        for label, values in times.items():
            took = statistics.median(w for w, _ in values)
            cpu = statistics.median(c for _, c in values)
            print(f"   {label:<48}{took:7.1f} ms  ({took / base:5.2f}x python -I -c pass)"
                  f"  CPU {cpu:7.1f} ms")


if __name__ == "__main__":
    main()
