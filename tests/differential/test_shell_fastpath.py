"""The shell's choice of when to ask the guard, held against the guard itself.

`wrap` runs `pipwrap check` only when `__pipwrap_needs_check` says so. Whatever the shell
lets through unasked must be something the guard accepts: each command of the corpus is
put to the rendered snippet in real bash, zsh and fish, and every one the shell would
not check is then checked by `pipwrap check` (which must accept it). The known holes of
the old hand-kept copy (local wheels, project directories, scripts without `.sh`) must
now reach the guard.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pipwrap.guard import fastpath, launchers
from tests.support.sandbox import Sandbox
from tests.support.shells import SHELLS

URL = "http://127.0.0.1:9/simple/"
CORPUS = [
    "true", "echo hi --extra-index-url " + URL, "id", "id -u",
    "pip install foo", "pip install -q --no-deps foo bar", "pip3 install -U foo",
    "pip3.12 install foo", "pip install --pre -vv foo", "pip --version", "pip list",
    "pip install ./dist/foo-1.0-py3-none-any.whl", "pip install dist/foo-1.0-py3-none-any.whl",
    "pip install .", "pip install proj", "pip install ./proj", "pip install foo==1.0",
    "pip install 'foo @ http://127.0.0.1:9/foo.whl'", "pip install -r req.txt",
    "pip install --extra-index-url " + URL + " foo", "pip install --extra foo",
    "pip install -i" + URL + " foo", "pip install --isolated foo", "pip-3.11 install foo",
    "python -m pip install foo", "uv pip install foo", "./setup-deps", "./setup-deps-noshebang",
    "./tool.py", "installer-on-path", "sh -c 'pip install foo'", "env pip install foo",
    "id --index-url " + URL, "id -i " + URL, "cat req.txt",
]


def _stage(home: Path) -> None:
    (home / "dist").mkdir()
    (home / "dist" / "foo-1.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    (home / "proj").mkdir()
    (home / "proj" / "pyproject.toml").write_text('[project]\nname = "proj"\nversion = "1"\n')
    (home / "req.txt").write_text("foo\n")
    for name, text in (("setup-deps", "#!/bin/sh\npip install \"$@\"\n"),
                       ("setup-deps-noshebang", "pip install foo\n"),
                       ("tool.py", "#!/usr/bin/env python3\nprint('hi')\n")):
        path = home / name
        path.write_text(text)
        path.chmod(0o755)
    bin_dir = home / "bin"
    bin_dir.mkdir()
    script = bin_dir / "installer-on-path"
    script.write_text("#!/bin/sh\npip install foo\n")
    script.chmod(0o755)


def _shell_verdicts(sandbox: Sandbox, shell: str) -> dict[str, bool]:
    lines = []
    for index, command in enumerate(CORPUS):
        words = " ".join(shlex.quote(w) for w in shlex.split(command))
        if shell == "fish":
            lines.append(f"__pipwrap_needs_check {words}; echo V{index}=$status")
        else:
            lines.append(f"__pipwrap_needs_check {words}; echo V{index}=$?")
    env = {**sandbox.env, "PATH": f"{sandbox.home / 'bin'}:{sandbox.env['PATH']}"}
    done = sandbox.sh(shell, f"cd {shlex.quote(str(sandbox.home))}\n" + "\n".join(lines),
                      PATH=env["PATH"])
    found = dict(re.findall(r"^V(\d+)=(\d+)$", done.stdout, re.M))
    assert len(found) == len(CORPUS), done.stdout + done.stderr
    return {CORPUS[int(i)]: status == "0" for i, status in found.items()}


def _guard_accepts(sandbox: Sandbox, command: str) -> bool:
    env = {**sandbox.env, "PATH": f"{sandbox.home / 'bin'}:{sandbox.env['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "pipwrap", "check", "--",
                           *shlex.split(command)], env=env, cwd=sandbox.home,
                          capture_output=True, text=True, check=False)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode == 0


@pytest.mark.parametrize("shell", SHELLS)
def test_what_the_shell_lets_through_the_guard_accepts(sandbox: Sandbox, shell: str) -> None:
    _stage(sandbox.home)
    verdicts = _shell_verdicts(sandbox, shell)
    unchecked = [command for command, needs in verdicts.items() if not needs]
    # The corpus must exercise both sides, or this test could not fail.
    assert "pip install foo" in unchecked and "true" in unchecked and "id" in unchecked
    wrong = [command for command in unchecked if not _guard_accepts(sandbox, command)]
    assert wrong == []
    # The holes of the old hand-kept list: each reaches the guard now.
    for command in ("pip install ./dist/foo-1.0-py3-none-any.whl", "pip install .",
                    "pip install proj", "./setup-deps", "./setup-deps-noshebang", "./tool.py",
                    "installer-on-path", "pip-3.11 install foo"):
        assert verdicts[command], command


def test_plain_pip_spellings_are_pip_to_the_guard_too() -> None:
    from fnmatch import fnmatchcase

    names = [f"pip{suffix}" for suffix in ("", "3", "9", "3.1", "3.12", "3.99")]
    for name in names:
        assert any(fnmatchcase(name, glob) for glob in fastpath.PIP_GLOBS), name
        assert launchers._PIP.fullmatch(name), name
    # Nothing the globs match is read by the guard as anything but pip.
    for name in ("pip3.x", "pipx", "pip-compile", "pip3.1a"):
        if any(fnmatchcase(name, glob) for glob in fastpath.PIP_GLOBS):
            assert launchers._PIP.fullmatch(name), name


def test_every_harmless_flag_is_harmless_to_the_guard(tmp_path: Path) -> None:
    from pipwrap.errors import RefusedError
    from pipwrap.guard.api import check

    refused = []
    patterns = fastpath.harmless_pip_flags()
    for pattern in patterns:
        subcommand, _, flag = pattern.partition(":")
        for sub in (("install", "download", "list") if subcommand == "*" else (subcommand,)):
            for argv in (["pip", sub, flag, "foo"], ["pip", flag, sub]):
                if flag == "--" and argv[1] == "--":
                    continue  # `pip -- install`: no subcommand at all
                try:
                    check(argv, {}, index_url=URL, cwd=str(tmp_path))
                except RefusedError:
                    refused.append(" ".join(argv))
    # A general flag may come before the subcommand; a subcommand's own only after it.
    refused = [line for line in refused if not any(
        line == f"pip {flag} {sub}" for sub, _, flag in (p.partition(":") for p in patterns)
        if sub != "*")]
    assert refused == []
    assert len(patterns) > 50
    fetching = ("*", "install", "download", "wheel", "index", "lock")
    for source in ("--extra-index-url", "--isolated", "-i", "--find-links", "-f"):
        assert not any(p.endswith(":" + source) and p.partition(":")[0] in fetching
                       for p in patterns), source
