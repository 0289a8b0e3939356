"""Secrets stay out of shell traces and shell variables; bad input never hangs the shell;
the guarded rc line keeps new shells clean once pipwrap is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import shells
from tests.support.sandbox import Indexes, Sandbox
from tests.support.shells import SHELLS

SECRET = "s3cret-Tok3n"
ROTATED = "r0tated-Tok3n"

TRACE = {"bash": "set -x", "zsh": "setopt xtrace", "fish": "set fish_trace 1"}
TRACE_OFF = {"bash": "set +x", "zsh": "unsetopt xtrace", "fish": "set -e fish_trace"}
DUMP = {"bash": "set; declare -p", "zsh": "set; typeset -p", "fish": "set -S"}


def _credentialed(sandbox: Sandbox, indexes: Indexes) -> None:
    sandbox.write_config(
        'default = "corp"\n\n'
        f'[profiles.corp]\nindex-url = "{indexes.local.url}"\n'
        'username = "alice"\npassword-env = "IDX_TOKEN"\n'
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_no_secret_in_a_trace_or_in_shell_variables(sandbox: Sandbox, indexes: Indexes,
                                                    shell: str) -> None:
    _credentialed(sandbox, indexes)
    export = (f"set -gx IDX_TOKEN {SECRET}" if shell == "fish"
              else f"export IDX_TOKEN={SECRET}")
    child = sandbox.home / "child-env"
    script = (f"{export}\n{TRACE[shell]}\nwrap printenv PIP_INDEX_URL\n"
              f"wrap sh -c 'env > {child}'\n{TRACE_OFF[shell]}\n{DUMP[shell]}\n")
    done = sandbox.sh(shell, script)
    # The command runs with the fence (the login lives there, not in the child) ...
    env = child.read_text()
    assert "HTTPS_PROXY=http://pipwrap:" in env, done.stderr
    assert [line for line in env.splitlines()
            if SECRET in line and not line.startswith("IDX_TOKEN=")] == []
    # ... and the user's command is still traced ...
    assert "printenv PIP_INDEX_URL" in done.stderr
    # ... but no trace line and no shell variable other than the user's own holds it.
    assert SECRET not in done.stderr
    leaks = [line for line in done.stdout.splitlines()
             if SECRET in line and "IDX_TOKEN" not in line]
    assert leaks == []


@pytest.mark.parametrize("shell", SHELLS)
def test_a_rotated_password_env_secret_takes_effect_on_the_next_call(
        sandbox: Sandbox, shell: str) -> None:
    import base64
    import http.server
    import threading

    class Echo(http.server.BaseHTTPRequestHandler):
        """An index that answers with the login the fence sent it."""

        def do_GET(self) -> None:
            body = (self.headers.get("Authorization") or "none").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
    sandbox.write_config(f'default = "corp"\n[profiles.corp]\nindex-url = "{url}"\n'
                         'username = "alice"\npassword-env = "IDX_TOKEN"\n')

    def export(value: str) -> str:
        return f"set -gx IDX_TOKEN {value}" if shell == "fish" else f"export IDX_TOKEN={value}"

    show = ("wrap python3 -c 'import urllib.request as u; "
            f"print(\"auth\", u.urlopen(\"{url}x/\").read().decode())'\n")
    try:
        done = sandbox.sh(shell, f"{export(SECRET)}\n{show}{export(ROTATED)}\n{show}")
    finally:
        server.shutdown()
    sent = [base64.b64decode(line.split()[2]).decode() for line in done.stdout.splitlines()
            if line.startswith("auth Basic ")]
    assert sent == [f"alice:{SECRET}", f"alice:{ROTATED}"], done.stdout + done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_fifo_config_fails_fast_and_runs_nothing(sandbox: Sandbox, shell: str) -> None:
    sandbox.config.unlink()
    os.mkfifo(sandbox.config)
    status = "$status" if shell == "fish" else "$?"
    started = time.monotonic()
    done = shells.run(shell, f"wrap echo RAN\necho status={status}\n", sandbox.env, timeout=30)
    # The shell's own start-up is excluded by comparing with an empty script's run.
    elapsed = time.monotonic() - started
    baseline_started = time.monotonic()
    shells.run(shell, "true\n", sandbox.env, timeout=30)
    baseline = time.monotonic() - baseline_started
    assert "RAN" not in done.stdout
    assert done.stdout.strip() != "status=0", done.stderr
    assert "config" in done.stderr.lower()
    assert elapsed - baseline < 2, (elapsed, baseline)


def _python_dir_without_pipwrap(tmp: Path) -> Path:
    """A PATH entry that has python3 but no pipwrap: pipwrap was uninstalled."""
    bindir = tmp / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to("/usr/bin/python3")
    return bindir


@pytest.mark.parametrize("shell", SHELLS)
def test_the_guarded_rc_line_keeps_a_shell_clean_after_uninstall(sandbox: Sandbox,
                                                                 shell: str) -> None:
    line = ("command -q pipwrap; and pipwrap init fish | source" if shell == "fish"
            else f'command -v pipwrap >/dev/null && eval "$(pipwrap init {shell})"')
    env = shells.isolated_env(sandbox.home, [_python_dir_without_pipwrap(sandbox.home)])
    rc_dir = sandbox.home / f".rc-{shell}"
    rc_dir.mkdir(exist_ok=True)
    if shell == "bash":
        rc = rc_dir / "bashrc"
        rc.write_text(line + "\n")
        argv = ["bash", "--noprofile", "--rcfile", str(rc), "-i", "-c", "echo clean"]
    elif shell == "zsh":
        (rc_dir / ".zshrc").write_text(line + "\n")
        env["ZDOTDIR"] = str(rc_dir)
        argv = ["zsh", "-i", "-c", "echo clean"]
    else:
        argv = ["fish", "--no-config", "--init-command", line, "-c", "echo clean"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.stdout.strip() == "clean"
    assert done.returncode == 0
    # Interactive bash may complain about the missing terminal; nothing else is said.
    noise = [ln for ln in done.stderr.splitlines()
             if "terminal process group" not in ln and "no job control" not in ln]
    assert noise == []
    # The same line with pipwrap installed defines wrap (so the guard is not a no-op).
    installed = shells.isolated_env(sandbox.home, [Path(sys.executable).parent])
    if shell == "zsh":
        installed["ZDOTDIR"] = str(rc_dir)
    argv[-1] = "type wrap >/dev/null && echo defined"
    done = subprocess.run(argv, env=installed, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.stdout.strip() == "defined", done.stderr
