"""The fence's sessions as a person meets them (issue 21, items 2-4 and the lifecycle).

Pipes and command substitutions end on the first call of a shell and later, with and
without a login; every refusal is said on the stderr of the command that hit it; a
``file://`` profile runs commands; ``eval "$(pipwrap env --reveal)"`` keeps its session;
the agent holds no descriptor of a caller, comes back after a kill, and goes when its
shells or its own files are gone. Real bash, zsh and fish; every shell runs under a
timeout, and a hang fails with the script that hung.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import shells, static_index
from tests.support.sandbox import PRIVATE_SECRET, Indexes, Sandbox, installed
from tests.support.servers import PyPIServer
from tests.support.shells import SHELLS
from tests.support.wheels import make_wheel

FENCE = "pipwrap fence: refused"
AGENT_GONE = "the fence agent exited during this command"


def run_shell(sandbox: Sandbox, shell: str, script: str, timeout: float = 40,
              **extra: str) -> subprocess.CompletedProcess[str]:
    """Like ``sandbox.sh``, but a hang kills the shell's process group and fails the test
    with the script instead of waiting for a reader that never ends."""
    env = {**sandbox.env, **extra}
    if shell == "zsh":
        env["ZDOTDIR"] = str(sandbox.home / ".rc-zsh")
    argv = shells.argv_for(shell, sandbox.home, script)
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        try:
            out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out, err = "(still held open)", "(still held open)"
        pytest.fail(f"{shell} hung for {timeout} s on:\n{script}\n--- stdout:\n{out}\n"
                    f"--- stderr:\n{err}")
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def _py(code: str) -> str:
    return "python -c " + "'" + code.replace("'", "'\\''") + "'"


def fetch(url: str, exit_status: int = 0, data: bytes | None = None) -> str:
    """A wrapped python that prints the status of a GET (a POST of ``data``; or the
    error), then exits."""
    return _py("import sys, urllib.request as u, urllib.error as e\n"
               "try:\n"
               f"    print('status', u.urlopen({url!r}, {data!r}, timeout=20).status)\n"
               "except e.HTTPError as x:\n"
               "    print('status', x.code)\n"
               "except OSError as x:\n"
               "    print('error', x); sys.exit(1)\n"
               f"sys.exit({exit_status})\n")


EMPTY_UPLOAD = (b'--X\r\nContent-Disposition: form-data; name=":action"\r\n\r\n'
                b"file_upload\r\n--X--\r\n")


def status(shell: str) -> str:
    return "$status" if shell == "fish" else "$?"


def _login_profile(sandbox: Sandbox, private_index: PyPIServer) -> dict[str, str]:
    sandbox.write_config(
        f'default = "corp"\n[profiles.corp]\nindex-url = "{private_index.url}"\n'
        'username = "alice"\npassword-env = "CORP_PW"\n')
    return {"CORP_PW": PRIVATE_SECRET}


# --- item 2: pipelines and command substitutions end ---------------------------------

@pytest.mark.parametrize("login", ["no-login", "password-env"])
@pytest.mark.parametrize("shell", SHELLS)
def test_pipes_and_substitutions_end(sandbox: Sandbox, private_index: PyPIServer,
                                     shell: str, login: str) -> None:
    """Each form once as the call that registers the session (the first of the shell, then
    after a PIP_* change) and once more later; a password-env profile registers on every
    call."""
    extra = _login_profile(sandbox, private_index) if login == "password-env" else {}
    export = "set -gx" if shell == "fish" else "export"
    subst = ("set v (wrap pip --version 2>&1); echo subst=$v" if shell == "fish"
             else 'v=$(wrap pip --version 2>&1); echo "subst=$v"')
    forms = ["wrap pip --version 2>&1 | cat", subst,
             "wrap pip --version 2>&1 | tee ~/log >/dev/null; cat ~/log"]
    lines = []
    for number, form in enumerate(forms):
        lines += [form, f"{export} PIP_DEFAULT_TIMEOUT=6{number}"]
    lines += [*forms, "echo done"]
    done = run_shell(sandbox, shell, "\n".join(lines), **extra)
    assert "done" in done.stdout, done.stdout + done.stderr
    assert done.stdout.count("subst=pip ") == 2, done.stdout + done.stderr
    versions = re.findall(r"^(?:subst=)?pip \d", done.stdout, re.MULTILINE)
    assert len(versions) == 6, done.stdout + done.stderr


# --- item 3: a file:// profile ---------------------------------------------------------

@pytest.mark.parametrize("shell", SHELLS)
def test_a_file_profile_runs_commands_and_the_fence_passes_only_its_upload_url(
        sandbox: Sandbox, indexes: Indexes, tmp_path: Path, shell: str) -> None:
    root = static_index.tree(tmp_path / "tree", [make_wheel(tmp_path / "w", "Foo", "1.0",
                                                            "local")])
    upload = indexes.local.url.replace("/simple/", "/")
    sandbox.write_config(f'default = "files"\n[profiles.files]\n'
                         f'index-url = "{(root / "simple").as_uri()}/"\n'
                         f'upload-url = "{upload}"\n')
    target, downloads = sandbox.home / "t", sandbox.home / "dl"
    st = status(shell)
    done = run_shell(sandbox, shell, "\n".join([
        f"wrap pip download -q --no-deps -d {downloads} foo; echo download={st}",
        f"wrap pip install -q --target {target} foo; echo install={st}",
        # An upload is a multipart POST to the upload URL (pypiserver: 400 for a form
        # without a file).
        "wrap " + _py("import urllib.request as u, urllib.error as e\n"
                      f"r = u.Request({upload!r}, {EMPTY_UPLOAD!r}, "
                      "{'Content-Type': 'multipart/form-data; boundary=X'})\n"
                      "try:\n    print('status', u.urlopen(r, timeout=20).status)\n"
                      "except e.HTTPError as x:\n    print('status', x.code)\n"),
        "wrap " + fetch(indexes.upstream.url + "foo/"),
    ]))
    assert "download=0" in done.stdout and "install=0" in done.stdout, done.stdout + done.stderr
    assert [p.name for p in downloads.iterdir()] == ["foo-1.0-py3-none-any.whl"]
    assert installed(target) == ("local", "1.0")
    statuses = [line for line in done.stdout.splitlines() if line.startswith("status")]
    assert statuses == ["status 400", "status 403"], done.stdout + done.stderr
    assert f"{FENCE} GET {indexes.upstream.url}foo/" in done.stderr


# --- item 4: every refusal on its own command's stderr ----------------------------------

@pytest.mark.parametrize("shell", SHELLS)
def test_each_command_says_its_own_refusals_on_its_own_stderr(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    refused = indexes.upstream.url + "foo/"
    logs = sandbox.home / "logs"
    logs.mkdir()
    st = status(shell)
    done = run_shell(sandbox, shell, "\n".join([
        f"wrap {fetch(refused, 3)} 2>{logs}/a; echo a={st}",
        f"wrap {fetch(refused, 4)} 2>{logs}/b; echo b={st}",
        f"wrap {fetch(indexes.local.url + 'foo/')} 2>{logs}/c; echo c={st}",
        f"wrap {fetch(refused)}",
    ]))
    line = f"{FENCE} GET {refused}"
    # wrap returns the command's own status, also when it printed a refusal.
    assert "a=3" in done.stdout and "b=4" in done.stdout and "c=0" in done.stdout, done.stdout
    assert (logs / "a").read_text().count(line) == 1, (logs / "a").read_text()
    assert (logs / "b").read_text().count(line) == 1, (logs / "b").read_text()
    assert line not in (logs / "c").read_text()
    assert done.stderr.count(line) == 1, done.stderr


def test_pipwrap_run_says_each_commands_refusals(sandbox: Sandbox, indexes: Indexes) -> None:
    refused = indexes.upstream.url + "foo/"
    code = ("import sys, urllib.request as u\n"
            "try:\n"
            f"    u.urlopen({refused!r}, timeout=20)\n"
            "except OSError as x:\n"
            "    print('status', getattr(x, 'code', x))\n"
            "sys.exit(5)\n")
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "pipwrap", "run", sys.executable, "-c", code],
                              env=sandbox.env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 5, done.stderr
        assert "status 403" in done.stdout
        assert done.stderr.count(f"{FENCE} GET {refused}") == 1, done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_eval_of_pipwrap_env_keeps_its_session(sandbox: Sandbox, indexes: Indexes,
                                               shell: str) -> None:
    load = ("pipwrap env --reveal --format fish | source" if shell == "fish"
            else 'eval "$(pipwrap env --reveal)"')
    # The first request right away, the second after the agent's reaper had its turn.
    done = run_shell(sandbox, shell, "\n".join([
        load, fetch(indexes.local.url + "foo/"), "sleep 1", fetch(indexes.local.url + "foo/"),
        fetch(indexes.upstream.url + "foo/"),
    ]))
    statuses = [line for line in done.stdout.splitlines() if line.startswith(("status", "error"))]
    assert statuses == ["status 200", "status 200", "status 403"], done.stdout + done.stderr


# --- the agent: descriptors, restarts, lifetime ---------------------------------------

def _agent_descriptors(text: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("fd ")]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_agent_holds_no_descriptor_of_a_caller(sandbox: Sandbox, shell: str) -> None:
    err = sandbox.home / "err.txt"
    if shell == "fish":
        listing = "for f in /proc/$__pipwrap_agent/fd/*; echo fd (readlink $f); end"
        export = "set -gx PIP_DEFAULT_TIMEOUT 61"
    else:
        listing = 'for f in /proc/$__pipwrap_agent/fd/*; do echo "fd $(readlink $f)"; done'
        export = "export PIP_DEFAULT_TIMEOUT=61"
    # Registered once with the shell's own pipes as stderr, once with a file.
    done = run_shell(sandbox, shell, "\n".join(["wrap true", export, f"wrap true 2>{err}",
                                                listing]))
    held = _agent_descriptors(done.stdout)
    assert held, done.stdout + done.stderr
    assert held[:3] == ["/dev/null"] * 3, held
    for target in held:
        assert not target.startswith(("pipe:", "/dev/pts", "/dev/tty")), held
        assert target != str(err), held


def test_the_agent_holds_no_terminal(sandbox: Sandbox) -> None:
    """On a terminal (a pty here), the agent a `wrap` starts keeps none of it."""
    argv = shells.argv_for("bash", sandbox.home, "true")[:-2]  # interactive, no -c
    out = shells.interactive(argv, sandbox.env, [
        ("wrap true\n", 5.0),
        ('for f in /proc/$__pipwrap_agent/fd/*; do echo "fd $(readlink $f)"; done\n', 2.0),
        ("exit\n", 1.0)])
    held = [line.strip() for line in out.splitlines() if line.startswith("fd /")]
    held = [line.split(" ", 1)[1] for line in held]
    assert held, out
    assert not [t for t in held if t.startswith(("/dev/pts", "/dev/tty", "/dev/ptmx"))], held


@pytest.mark.parametrize("shell", SHELLS)
def test_a_command_during_which_the_agent_died_says_so(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    url = indexes.local.url + "foo/"
    script = sandbox.home / "fetch.py"
    script.write_text("import sys, urllib.request as u\n"
                      "try:\n"
                      f"    u.urlopen({url!r}, timeout=20)\n"
                      "except OSError as x:\n"
                      "    print('error', x); sys.exit(1)\n")
    st = status(shell)
    # The wrapped command kills the agent its shell registered with, then needs it.
    done = run_shell(sandbox, shell, "\n".join([
        "wrap true",
        f"wrap sh -c 'kill -9 \"$0\"; sleep 0.3; exec python {script}' $__pipwrap_agent; "
        f"echo killed={st}",
        "wrap " + fetch(url),
    ]))
    assert "killed=1" in done.stdout, done.stdout + done.stderr
    assert done.stderr.count(AGENT_GONE) == 1, done.stderr
    # The next wrap registers with a new agent, with no action of the user.
    assert "status 200" in done.stdout, done.stdout + done.stderr


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or \
                Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return True
        time.sleep(0.1)
    return False


def test_the_agent_leaves_when_its_last_shell_has_gone(sandbox: Sandbox) -> None:
    done = run_shell(sandbox, "bash", "wrap true; echo agent=$__pipwrap_agent")
    pid = int(done.stdout.split("agent=")[1].split()[0])
    assert _wait_gone(pid, 15), "the agent outlived its only shell"


def test_the_agent_leaves_when_pipwrap_is_uninstalled(sandbox: Sandbox, indexes: Indexes,
                                                      tmp_path: Path) -> None:
    """The agent runs from a copy of the package; the copy is removed while a session
    (owned by a live process) remains: the agent exits instead of running on."""
    import shutil

    import pipwrap

    site = tmp_path / "site"
    shutil.copytree(Path(pipwrap.__file__).parent, site / "pipwrap",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**sandbox.env, "PYTHONPATH": str(site), "PIPWRAP_FENCE_MAX_IDLE": "600"}
    owner = subprocess.Popen(["sleep", "120"])
    try:
        code = ("import pipwrap, sys\n"
                f"assert pipwrap.__file__.startswith({str(site)!r}), pipwrap.__file__\n"
                "from pipwrap import fence\n"
                f"print(fence.open_session({indexes.local.url!r}, owner_pid={owner.pid})"
                ".agent_pid)\n")
        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=site,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        pid = int(done.stdout.strip())
        assert not _wait_gone(pid, 2), "the agent left while its session's owner lives"
        shutil.rmtree(site / "pipwrap")
        assert _wait_gone(pid, 15), "the agent outlived its own package files"
    finally:
        owner.kill()
        owner.wait()


def test_pipwrap_run_keeps_the_commands_status_and_signal(sandbox: Sandbox) -> None:
    """`pipwrap run` now waits for its command (to say the refusals after it): the caller
    still sees the command's own status, also its death by a signal."""
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pipwrap", "run", *argv], env=sandbox.env,
                              capture_output=True, text=True, timeout=60, check=False)

    assert run("sh", "-c", "exit 7").returncode == 7
    assert run("sh", "-c", "kill -TERM $$").returncode == -signal.SIGTERM
    assert run("sh", "-c", "kill -KILL $$").returncode == -signal.SIGKILL
    done = run("sh", "-c", "trap - PIPE; yes | head -1")  # SIGPIPE is the default again
    assert (done.returncode, done.stdout, done.stderr) == (0, "y\n", "")


TRACE = {"bash": "set -x", "zsh": "setopt xtrace", "fish": "set fish_trace 1"}


@pytest.mark.parametrize("shell", SHELLS)
def test_traced_wrap_shows_the_command_and_its_refusal_not_pipwraps_own(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    refused = indexes.upstream.url + "foo/"
    st = status(shell)
    done = run_shell(sandbox, shell, "\n".join([
        TRACE[shell], f"wrap {fetch(refused, 3)}", f"echo st={st}",
        "wrap sh -c 'exit 4'", f"echo st={st}"]))
    assert "st=3" in done.stdout and "st=4" in done.stdout, done.stdout + done.stderr
    assert done.stderr.count(f"{FENCE} GET {refused}") == 1, done.stderr
    assert "sh -c 'exit 4'" in done.stderr or "sh -c exit 4" in done.stderr, done.stderr
    # Nothing of what pipwrap does after the command (bash shows its function's own
    # first lines, as before: that is where tracing is turned off).
    for own in ("__pipwrap_s", "__pipwrap_report", "__pipwrap_said", "__pipwrap_command",
                "__pipwrap_traced $argv", "set -f", "_state", "setopt noxtrace"):
        assert own not in done.stderr, done.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_errexit_a_refused_command_says_so_before_the_shell_exits(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    refused = indexes.upstream.url + "foo/"
    errexit = "set -e" if shell == "bash" else "setopt errexit"
    done = run_shell(sandbox, shell, "\n".join([
        # A function keeps errexit inside it, as without wrap.
        "f() { false; echo still-in-f; }",
        f"({errexit}; wrap f; echo after-f)",
        f"{errexit}", f"wrap {fetch(refused, 3)}", "echo not-reached"]))
    assert "still-in-f" not in done.stdout and "after-f" not in done.stdout, done.stdout
    assert "status 403" in done.stdout and "not-reached" not in done.stdout, done.stdout
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.count(f"{FENCE} GET {refused}") == 1, done.stderr
