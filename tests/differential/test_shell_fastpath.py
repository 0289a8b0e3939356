"""The shell's choice of when to ask the guard, held against the guard itself.

`wrap` runs `pipwrap check` only when `__pipwrap_needs_check` says so. Whatever the shell
lets through unasked must be something the guard accepts: each command of the corpus is
put to the rendered snippet in real bash, zsh and fish, and every one the shell would
not check is then checked by `pipwrap check` (which must accept it). The known holes of
the old hand-kept copy (local wheels, project directories, scripts without `.sh`) must
now reach the guard. Where the session's network isolation is in force the shell lets
more through (`uv pip install NAMES`, pip's harmless options with values, requirements
with versions): held against the guard the same way, and with isolation off the shell
must ask exactly as before.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pipwrap.fence import netns
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
# What the shell lets through only under isolation (and asks the guard about without it).
WIDENED = [
    "uv pip install foo", "uv pip install -q --no-deps foo bar",
    "uv pip install -q --python /usr/bin/python3 --target t foo",
    "uv pip install --target=t -p python3 -U foo",
    "uv pip install 'foo==1.0' 'bar>=2,<3' 'baz[x,y]~=1.2' 'qux!=1.*'",
    "uv pip install -qq 'torch==2.1+cpu' --no-cache",
    "pip install --target t foo", "pip install -t t -q 'foo>=1' 'bar[x]'",
    "pip install --cache-dir=c foo==1.0", "pip install --src=s 'foo[bar]==1' -U",
]
# Asked about in either mode.
ALWAYS_CHECKED = [
    "uv pip install --extra-index-url " + URL + " foo", "uv pip install --index-url=" + URL,
    "uv pip install -i " + URL + " foo", "uv pip install --index-strategy unsafe-best-match foo",
    "uv pip install -r req.txt", "uv pip install 'foo @ http://127.0.0.1:9/foo.whl'",
    "uv pip install git+https://127.0.0.1:9/foo.git", "uv pip install ./proj",
    "uv pip install proj", "uv pip install 'proj[x]'", "uv pip install 'proj>=1'",
    "uv pip install dist/foo-1.0-py3-none-any.whl", "uv pip install --python",
    "uv pip install foo --config-file uv.toml", "uv pip install -e .", "uv add foo",
    "uv pip compile req.txt", "uv -q pip install foo", "uv pip install 'foo; os_name==\"x\"'",
    "uv pip install -qU foo", "uv pip install -p=python3 foo", "uvx foo",
    "pip --cache-dir c install foo", "pip install --target", "pip install 'proj[x]'",
    "pip install 'git+https://127.0.0.1:9/foo.git'", "pip install --tar t foo",
    "pip install -tt foo", "pip install 'foo @ http://127.0.0.1:9/foo.whl'",
    "pip install -c req.txt foo", "pip install 'foo >= 1'",
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


def _shell_verdicts(sandbox: Sandbox, shell: str, corpus: list[str] = CORPUS,
                    isolated: bool | None = None) -> dict[str, bool]:
    # One `wrap` first: the shell's state (the namespace to enter, if any) is loaded then.
    count = "(count $__pipwrap_enter)" if shell == "fish" else "${#__pipwrap_enter[@]}"
    lines = ["wrap true", f"echo ENTER={count}"]
    for index, command in enumerate(corpus):
        words = " ".join(shlex.quote(w) for w in shlex.split(command))
        if shell == "fish":
            lines.append(f"__pipwrap_needs_check {words}; echo V{index}=$status")
        else:
            lines.append(f"__pipwrap_needs_check {words}; echo V{index}=$?")
    env = {**sandbox.env, "PATH": f"{sandbox.home / 'bin'}:{sandbox.env['PATH']}"}
    done = sandbox.sh(shell, f"cd {shlex.quote(str(sandbox.home))}\n" + "\n".join(lines),
                      PATH=env["PATH"])
    found = dict(re.findall(r"^V(\d+)=(\d+)$", done.stdout, re.M))
    assert len(found) == len(corpus), done.stdout + done.stderr
    if isolated is not None:
        assert ("ENTER=0" not in done.stdout) == isolated, done.stdout + done.stderr
    return {corpus[int(i)]: status == "0" for i, status in found.items()}


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


def _guard_verdicts(sandbox: Sandbox, commands: list[str]) -> dict[str, bool]:
    """Whether `pipwrap check` accepts each command (one interpreter for all of them)."""
    env = {**sandbox.env, "PATH": f"{sandbox.home / 'bin'}:{sandbox.env['PATH']}"}
    program = ("import json, shlex, sys\n"
               "from pipwrap.commands.check import check_argv\n"
               "from pipwrap.errors import RefusedError\n"
               "found = {}\n"
               "for line in json.load(sys.stdin):\n"
               "    try:\n"
               "        found[line] = check_argv(shlex.split(line)) == 0\n"
               "    except RefusedError:\n"
               "        found[line] = False\n"
               "print(json.dumps(found))\n")
    done = subprocess.run([sys.executable, "-c", program], env=env, cwd=sandbox.home,
                          input=json.dumps(commands), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    verdicts: dict[str, bool] = json.loads(done.stdout)
    return verdicts


@pytest.mark.parametrize("isolation", ["auto", "off"])
@pytest.mark.parametrize("shell", SHELLS)
def test_under_isolation_the_shell_lets_more_through_and_the_guard_accepts_it(
        sandbox: Sandbox, shell: str, isolation: str) -> None:
    isolated = isolation == "auto"
    if isolated and not netns.availability().available:
        pytest.skip("no network isolation here")
    sandbox.write_config(f'default = "local"\n[profiles.local]\nindex-url = "{URL}"\n'
                         f'isolation = "{isolation}"\n')
    _stage(sandbox.home)
    corpus = [*CORPUS, *WIDENED, *ALWAYS_CHECKED]
    verdicts = _shell_verdicts(sandbox, shell, corpus, isolated=isolated)
    guard = _guard_verdicts(sandbox, corpus)
    # Whatever the shell lets through, the guard accepts; whatever the guard refuses,
    # the shell asks it about.
    assert [c for c in corpus if not verdicts[c] and not guard[c]] == []
    # Each widened line is one the guard accepts, or this test proves nothing.
    assert [c for c in WIDENED if not guard[c]] == []
    assert [c for c in ALWAYS_CHECKED if not verdicts[c]] == []
    if isolated:
        assert [c for c in WIDENED if verdicts[c]] == []
    else:
        # Isolation off: the shell asks exactly as it did before.
        assert [c for c in WIDENED if not verdicts[c]] == []


def test_every_fast_uv_and_valued_pip_option_is_harmless_to_the_guard(tmp_path: Path) -> None:
    from pipwrap.errors import RefusedError
    from pipwrap.guard.api import check

    lines = [["uv", "pip", "install", flag, "foo"] for flag in fastpath.uv_install_flags()]
    for glob in fastpath.uv_install_valued():
        option = glob.removesuffix("=*")
        lines.append(["uv", "pip", "install", f"{option}=v" if glob.endswith("=*")
                      else option, *([] if glob.endswith("=*") else ["v"]), "foo"])
    for pattern in fastpath.harmless_pip_valued():
        subcommand, _, glob = pattern.partition(":")
        option = glob.removesuffix("=*")
        words = [f"{option}=v"] if glob.endswith("=*") else [option, "v"]
        for sub in (("install", "download", "list") if subcommand == "*" else (subcommand,)):
            lines.append(["pip", sub, *words, "foo"])
    refused = []
    for argv in lines:
        try:
            check(argv, {}, index_url=URL, cwd=str(tmp_path))
        except RefusedError as exc:
            refused.append(f"{' '.join(argv)}: {exc}")
    assert refused == []
    assert len(lines) > 150
    for source in ("--index-url", "--extra-index-url", "--find-links", "-i", "-f",
                   "--index-strategy", "--config-file", "-r", "--requirements", "-e"):
        assert source not in fastpath.uv_install_flags()
        assert not any(glob.removesuffix("=*") == source
                       for glob in fastpath.uv_install_valued()), source
        assert not any(p.partition(":")[2].removesuffix("=*") == source
                       for p in fastpath.harmless_pip_valued()), source


@pytest.mark.parametrize("word", [
    "foo", "Foo.Bar-baz_1", "foo[x]", "foo[x,y]>=1,<2", "foo==1.*", "foo~=1.2",
    "foo!=1.0", "foo===1.0", "torch==2.1+cpu", "foo>1", "foo==1!2.0"])
def test_a_word_the_requirement_pattern_takes_is_a_name_to_the_guard(tmp_path: Path,
                                                                      word: str) -> None:
    from pipwrap.guard import directref
    from pipwrap.guard.api import new_context

    assert re.fullmatch(fastpath.REQUIREMENT_REGEX, word)
    ctx = new_context({}, str(tmp_path), URL)
    assert directref.url_of(word) is None
    assert directref.local_target(word, ctx) is None
    directref.check_requirement(word, "command line", ctx)


@pytest.mark.parametrize("word", [
    "foo @ http://x/y", "git+https://x/y", "./foo", "foo/bar", ".foo", "foo;os_name=='x'",
    "foo >= 1", "http://x/foo.whl", "foo[x", "-e", "foo==", "foo@1", "foo:bar", "~foo"])
def test_the_requirement_pattern_leaves_urls_paths_and_markers_to_the_guard(word: str) -> None:
    assert not re.fullmatch(fastpath.REQUIREMENT_REGEX, word)


@pytest.mark.parametrize("shell", SHELLS)
def test_a_file_variable_set_empty_then_given_a_value_still_reaches_the_guard(
        sandbox: Sandbox, shell: str) -> None:
    """The shell's key holds variable names, not values: UV_CONSTRAINT set but empty when
    the state was made, then given a file, must still send `uv pip install` to the guard
    (which reads the file), as PIP_CONSTRAINT does for pip."""
    if not netns.availability().available:
        pytest.skip("no network isolation here")
    (sandbox.home / "c.txt").write_text("--extra-index-url " + URL + "\n")
    status = "$status" if shell == "fish" else "$?"
    assign = "set -gx UV_CONSTRAINT" if shell == "fish" else "export UV_CONSTRAINT="
    later = "set -gx UV_CONSTRAINT c.txt" if shell == "fish" else "UV_CONSTRAINT=c.txt"
    done = sandbox.sh(shell, f"cd ~\n{assign}\nwrap true\n"
                             f"__pipwrap_needs_check uv pip install foo; echo A={status}\n"
                             f"{later}\n"
                             f"__pipwrap_needs_check uv pip install foo; echo B={status}\n")
    assert "A=0" in done.stdout and "B=0" in done.stdout, done.stdout + done.stderr
