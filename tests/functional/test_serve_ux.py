"""`pipwrap serve` as a person meets it (issue 21, items 6 and 9).

In real bash, zsh and fish: `pipwrap serve &` says how to stop it and `ps` calls it
`pipwrap serve`; a second one on the same port names the first; `--repo TYPO` is refused;
with `--cache` and the upstream down, pip and uv say why. docs/hosting.md's first example
runs as written with only a wheel; docs/hosting-team.md's certificate recipe, run as
written, gives a server pip and uv trust through a profile's `ca-file`.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import shells
from tests.support.port8080 import on_port_8080, run_leaving_jobs
from tests.support.sandbox import Sandbox, installed, uv_dir
from tests.support.servers import free_port
from tests.support.shells import REPO, SHELLS
from tests.support.wheels import make_wheel

TIMEOUT = 60


# -- a shell on a terminal ------------------------------------------------------------


class Terminal:
    """An interactive shell on a pseudo-terminal, with job control, as a person has."""

    def __init__(self, shell: str, env: dict[str, str]) -> None:
        home = Path(env["HOME"])
        rc_dir = home / f".rc-{shell}-pty"
        rc_dir.mkdir(exist_ok=True)
        line = shells.init_line(shell)
        env = {**env, "TERM": "dumb"}
        if shell == "bash":
            (rc_dir / "bashrc").write_text(f"{line}\nPS1='$ '\n")
            argv = ["bash", "--noprofile", "--rcfile", str(rc_dir / "bashrc"), "-i"]
        elif shell == "zsh":
            (rc_dir / ".zshrc").write_text(f"{line}\nPROMPT='$ '\n")
            env["ZDOTDIR"] = str(rc_dir)
            argv = ["zsh", "-i"]
        else:
            argv = ["fish", "--no-config", "--init-command",
                    f"{line}; function fish_prompt; echo '$ '; end", "-i"]
        self.output = ""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.chdir(home)
            os.execvpe(argv[0], argv, env)

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def expect(self, pattern: str, seconds: float = TIMEOUT) -> re.Match[str]:
        """Read until ``pattern`` appears in what was printed since the last match."""
        deadline = time.monotonic() + seconds
        while True:
            found = re.search(pattern, self.output)
            if found:
                self.output = self.output[found.end():]
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} within {seconds} s; the terminal shows:\n" \
                             f"{self.output}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                assert chunk, f"the shell ended; the terminal showed:\n{self.output}"
                self.output += chunk.decode(errors="replace").replace("\r", "")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        os.close(self.fd)
        os.waitpid(self.pid, 0)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def serving_pids(repo: Path) -> list[int]:
    """The processes whose command line reads `pipwrap serve --repo REPO ...`."""
    wanted = b"pipwrap\0serve\0--repo\0" + bytes(repo) + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError):
            if entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes().startswith(
                    wanted):
                found.append(int(entry))
    return found


@pytest.mark.parametrize("shell", SHELLS)
def test_serve_names_itself_and_says_how_to_stop_it(sandbox: Sandbox, tmp_path: Path,
                                                    shell: str) -> None:
    """From the shell line: `ps` shows `pipwrap serve ...` (not `python -I -c ...`), and
    so does a second serve refused the port; in the foreground the first line says
    Ctrl-C, and Ctrl-C stops it; in the background (`&`) it says `kill PID` instead."""
    repo = tmp_path / "repo"
    repo.mkdir()
    port = free_port()
    tools = tmp_path / "bin"  # `pipwrap` on PATH, as pipx puts it there
    tools.mkdir()
    (tools / "pipwrap").write_text(f"#!/bin/sh\nexec '{sys.executable}' -m pipwrap \"$@\"\n")
    (tools / "pipwrap").chmod(0o755)
    env = {**sandbox.env, "PATH": f"{tools}:{sandbox.env['PATH']}"}
    terminal = Terminal(shell, env)
    try:
        terminal.expect(r"\$ ")
        terminal.type(f"pipwrap serve --repo {repo} --port {port}\n")
        line = terminal.expect(r"pipwrap serve: .* at http.*\n").group(0)
        assert line.rstrip().endswith("; Ctrl-C stops"), line
        (pid,) = serving_pids(repo)
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "pipwrap serve"
        shown = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)],
                               capture_output=True, text=True, timeout=TIMEOUT,
                               check=False).stdout
        assert shown.strip() == f"pipwrap serve --repo {repo} --port {port}", shown
        busy = subprocess.run([sys.executable, "-m", "pipwrap", "serve", "--repo", str(repo),
                               "--port", str(port)], env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False).stderr
        named = re.search(r"in use by (.*) \(pid (\d+)\)", busy)
        assert named and int(named.group(2)) == pid, busy
        title = f"pipwrap serve --repo {repo} --port {port}"  # cut at 100 characters
        assert named.group(1) in (title, title[:100] + "..."), busy
        terminal.type("\x03")
        terminal.expect(r"pipwrap serve: stopped")
        assert wait_gone(pid)

        # fish runs a function in the foreground even with `&`: there, the command on PATH.
        command = "command pipwrap" if shell == "fish" else "pipwrap"
        terminal.type(f"{command} serve --repo {repo} --port {port} &\n")
        first = terminal.expect(r"pipwrap serve: .* at http://127\.0\.0\.1:\d+/simple/ .*\n")
        assert "Ctrl-C" not in first.group(0), first.group(0)
        found = re.search(r"stop it with: kill (\d+)", first.group(0))
        assert found, first.group(0)
        pid = int(found.group(1))
        assert serving_pids(repo) == [pid]
        terminal.type(f"kill {pid}\n")
        assert wait_gone(pid), "serve did not stop on kill"

        if shell == "fish":
            # As the docs' bash line is typed in fish: the function runs in the foreground
            # with SIGINT blocked (the terminal was stuck); serve unblocks it, so the line's
            # "Ctrl-C stops" holds.
            terminal.type(f"pipwrap serve --repo {repo} --port {port} &\n")
            line = terminal.expect(r"pipwrap serve: .* at http.*\n").group(0)
            (pid,) = serving_pids(repo)
            if line.rstrip().endswith("; Ctrl-C stops"):
                terminal.type("\x03")
            else:
                terminal.type(f"kill {pid}\n")
            assert wait_gone(pid), f"serve did not stop as it said:\n{line}"
    finally:
        terminal.close()


def test_ps_never_shows_the_login_of_a_private_upstream(sandbox: Sandbox,
                                                        tmp_path: Path) -> None:
    """`ps` shows argv to every local user: a password in `--fallback` is refused (never
    repeated), and one from $PIPWRAP_FALLBACK_PASSWORD never reaches the command line."""
    secret = "hunter2-upstream"
    refused = subprocess.run(
        [sys.executable, "-m", "pipwrap", "serve", "--repo", str(tmp_path), "--port", "0",
         "--cache", "--fallback", f"https://alice:{secret}@127.0.0.1:9/simple/"],
        env=sandbox.env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert refused.returncode == 2 and secret not in refused.stderr
    assert "PIPWRAP_FALLBACK_PASSWORD" in refused.stderr, refused.stderr
    port = free_port()
    with subprocess.Popen(
            [sys.executable, "-m", "pipwrap", "serve", "--repo", str(tmp_path), "--port",
             str(port), "--cache", "--fallback", "https://alice@127.0.0.1:9/simple/"],
            env={**sandbox.env, "PIPWRAP_FALLBACK_PASSWORD": secret},
            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL) as process:
        try:
            assert process.stderr is not None
            first = process.stderr.readline()
            assert "at http://127.0.0.1:" in first and secret not in first, first
            shown = Path(f"/proc/{process.pid}/cmdline").read_bytes()
            assert secret.encode() not in shown
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=TIMEOUT)


# -- --repo names a directory that exists -----------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_serve_refuses_a_repository_that_does_not_exist(sandbox: Sandbox, tmp_path: Path,
                                                        shell: str) -> None:
    (tmp_path / "repo").mkdir()
    typo = tmp_path / "rpeo"
    status = "$status" if shell == "fish" else "$?"
    script = (f"pipwrap serve --repo {typo} --port {free_port()}; echo status={status}\n"
              f"PIPWRAP_REPO={typo} pipwrap serve --port {free_port()}; echo status={status}\n")
    if shell == "fish":
        script = script.replace(f"PIPWRAP_REPO={typo} ", f"env PIPWRAP_REPO={typo} ")
    done = sandbox.sh(shell, script)
    assert done.stdout.split() == ["status=2", "status=2"], done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("pipwrap")]
    assert len(lines) == 2, done.stderr
    for line, source in zip(lines, ("(--repo)", "($PIPWRAP_REPO)")):
        assert line.startswith(f"pipwrap: serve: no repository at {typo} {source}"), line
        assert f"mkdir -p {typo}" in line and f"pipwrap repo add --repo {typo}" in line, line
    assert not typo.exists()


def test_serve_still_makes_the_default_repository(sandbox: Sandbox) -> None:
    """No --repo, no $PIPWRAP_REPO: the user data directory's repo is made on first use."""
    default = sandbox.home / ".local/share/pipwrap/repo"
    assert not default.exists()
    with subprocess.Popen([sys.executable, "-m", "pipwrap", "serve", "--port", "0"],
                          env=sandbox.env, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL) as process:
        try:
            assert process.stderr is not None
            first = process.stderr.readline()
            assert f"pipwrap serve: {default} at http://127.0.0.1:" in first, first
            assert first.rstrip().endswith(f"stop it with: kill {process.pid}"), first
            assert (default / "index.html").is_file()
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=TIMEOUT)


# -- --cache with the upstream down: the client hears why --------------------------------


def test_an_upstream_down_with_nothing_cached_is_named_by_pip_and_uv(
    sandbox: Sandbox, tmp_path: Path, venv: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    dead = f"http://127.0.0.1:{free_port()}/simple/"  # nothing listens there
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "pipwrap", "serve", "--repo", str(repo), "--port", str(port),
             "--cache", "--fallback", dead, "-v"], env=sandbox.env, stdout=sink, stderr=sink,
            stdin=subprocess.DEVNULL, start_new_session=True)
    index = f"http://127.0.0.1:{port}/simple/"
    sandbox.write_config(f'default = "mirror"\n[profiles.mirror]\nindex-url = "{index}"\n')
    try:
        wait_answering(index, server)
        why = f"six is not cached here, and the upstream index {dead} could not be reached"
        python = venv / "bin" / "python"
        runs = {
            "pip": [str(python), "-m", "pip", "install", "--no-cache-dir", "--index-url", index,
                    "--target", str(tmp_path / "p"), "six"],
            "uv": [str(uv_dir() / "uv"), "pip", "install", "--no-cache", "--python", str(python),
                   "--index-url", index, "--target", str(tmp_path / "u"), "six"],
        }
        # pip prints the sentence (from the Content-Type serve gives it); uv prints the
        # status of the page's URL, "502 Bad Gateway" (the standard reason phrase: granian
        # sends no other), and serve's log has the sentence.
        gateway = f"(502 Bad Gateway) for url ({index}six/)"
        # No retries: a 502 is meant to fail, and their back-off was 20 s of this test.
        quick = {**sandbox.env, "PIP_RETRIES": "0", "UV_HTTP_RETRIES": "0"}
        for tool, argv in runs.items():
            done = subprocess.run(argv, env=quick, capture_output=True, text=True,
                                  timeout=TIMEOUT, check=False)
            assert done.returncode != 0, (tool, done.stderr)
            assert (why if tool == "pip" else gateway) in done.stderr, (tool, done.stderr)
        done = sandbox.sh("bash", "export PIP_RETRIES=0 UV_HTTP_RETRIES=0\n"
                                  f"wrap pip install --no-cache-dir --target {tmp_path}/w six\n"
                                  f"wrap uv pip install --no-cache --python {python} "
                                  f"--target {tmp_path}/wu six\n")
        assert done.stderr.count(why) == 1, done.stdout + done.stderr
        assert gateway in done.stderr, done.stdout + done.stderr
        assert "nothing cached for it" in log.read_text()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=TIMEOUT)


def wait_answering(url: str, process: subprocess.Popen[bytes],
                   context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            assert process.poll() is None, f"serve exited with {process.returncode}"
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.1)


# -- docs/hosting.md's first example, with only a wheel ---------------------------------


def test_the_hosting_pages_first_example_runs_with_only_a_wheel(sandbox: Sandbox,
                                                                 tmp_path: Path) -> None:
    text = (REPO / "docs/hosting.md").read_text()
    blocks = re.findall(r"<!-- hosting-first: bash -->\n```bash\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 1, "docs/hosting.md: no first example marked <!-- hosting-first -->"
    sandbox.config.unlink()  # a new user: the built-in `local` profile only
    work = sandbox.home / "work"
    make_wheel(work / "dist", "only-a-wheel", "1.0", "local")  # no sdist
    script = ("set -e\npython3 -m venv .venv && . .venv/bin/activate\n"
              + blocks[0].replace("yourpkg", "only-a-wheel")
              + 'python -c "import only_a_wheel as m; print(\'imported\', m.ORIGIN)"\n')
    rc = sandbox.home / "bashrc"
    rc.write_text(shells.init_line("bash") + "\n")
    (sandbox.home / "script").write_text(script)
    env = {**sandbox.env, "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"}
    del env["PIPWRAP_CONFIG"]  # no config file at all, as the page says
    out, err = tmp_path / "out", tmp_path / "err"
    with on_port_8080() as prefix:
        argv = [*prefix, "bash", "--noprofile", "--rcfile", str(rc), "-i", "-c",
                f"source '{sandbox.home}/script'"]
        status = run_leaving_jobs(argv, env, work, out, err, timeout=240)
    output = out.read_text() + err.read_text()
    assert status == 0, output
    assert "added: only-a-wheel/only_a_wheel-1.0-py3-none-any.whl" in output, output
    assert "at http://127.0.0.1:8080/simple/" in output and "stop it with: kill" in output
    assert "Successfully installed only-a-wheel-1.0" in output, output
    assert "imported local" in output, output


# -- docs/hosting-team.md's certificate recipe, with pip and uv -------------------------


def recipe(work: Path, name: str) -> None:
    """Run the page's certificate recipe as written, in bash, for host ``name``."""
    text = (REPO / "docs/hosting-team.md").read_text()
    blocks = [code for code in re.findall(r"<!-- runnable: [a-z ]+ -->\n```bash\n(.*?)```",
                                          text, re.DOTALL) if "openssl req -x509" in code]
    assert len(blocks) == 1, "docs/hosting-team.md has no runnable certificate recipe"
    assert "--tls-cert cert.pem --tls-key key.pem" in text and "--ca-file" in text
    work.mkdir()
    done = subprocess.run(["bash", "-e", "-c", blocks[0].replace("pkgs.example.com", name)],
                          cwd=work, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    assert done.returncode == 0, done.stderr


@contextlib.contextmanager
def serving_tls(repo: Path, cert: Path, key: Path, ca: Path, env: dict[str, str],
                log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipwrap", "serve", "--repo", str(repo), "--port", str(port),
             "--no-fallback", "--tls-cert", str(cert), "--tls-key", str(key)], env=env,
            stdout=sink, stderr=sink, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        context = ssl.create_default_context(cafile=str(ca))
        context.check_hostname = False  # a self-signed certificate is tried too
        wait_answering(f"https://127.0.0.1:{port}/simple/", process, context)
        yield f"https://localhost:{port}/simple/"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def team_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    base = tmp_path_factory.mktemp("team-tls")
    certs = base / "certs"
    recipe(certs, "localhost")
    wheel = make_wheel(base / "dist", "team-tls", "1.0", "local")
    home = base / "home"
    home.mkdir()
    env = {**shells.isolated_env(home), "PATH": os.environ["PATH"]}
    done = subprocess.run([sys.executable, "-m", "pipwrap", "repo", "add", "--repo",
                           str(base / "repo"), str(wheel)], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    with serving_tls(base / "repo", certs / "cert.pem", certs / "key.pem", certs / "ca.pem",
                     env, base / "serve.log") as url:
        yield certs, url


def test_serve_prints_the_address_its_certificate_holds(team_tls: tuple[Path, str]) -> None:
    """Listening on 127.0.0.1 with hosting-team.md's certificate for ``localhost``, serve
    printed https://127.0.0.1:PORT/simple/, which a user copies into a profile and every
    client then refuses on the certificate's name (newuser3). It prints the name the
    certificate holds, and says so."""
    certs, url = team_tls
    log = (certs.parent / "serve.log").read_text()
    assert f" at {url} " in log, log
    assert "listening on 127.0.0.1; the address says localhost" in log, log


@pytest.mark.parametrize("shell", SHELLS)
def test_the_certificate_recipe_with_a_ca_file_profile_under_wrap(
    sandbox: Sandbox, team_tls: tuple[Path, str], venv: Path, shell: str
) -> None:
    certs, url = team_tls
    sandbox.write_config(f'default = "team"\n[profiles.team]\nindex-url = "{url}"\n'
                         f'ca-file = "{certs / "ca.pem"}"\n')
    target = sandbox.home / "t"
    done = sandbox.sh(shell, f"wrap pip install --no-cache-dir --target {target}/pip team-tls\n"
                             f"wrap uv pip install --no-cache --python {venv}/bin/python "
                             f"--target {target}/uv team-tls\n")
    assert installed(target / "pip", "team_tls") == ("local", "1.0"), done.stderr
    assert installed(target / "uv", "team_tls") == ("local", "1.0"), done.stderr


def test_the_certificate_recipe_with_pip_and_uv_unwrapped(
    sandbox: Sandbox, team_tls: tuple[Path, str], venv: Path, tmp_path: Path
) -> None:
    """The recipe's certificate itself, checked by pip (Python's ssl) and uv (rustls);
    the one self-signed certificate people make first is refused by uv."""
    certs, url = team_tls
    python = venv / "bin" / "python"

    def uv(index: str, ca: Path, target: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(uv_dir() / "uv"), "pip", "install", "--no-cache", "--python", str(python),
             "--index-url", index, "--target", str(target), "team-tls"],
            env={**sandbox.env, "SSL_CERT_FILE": str(ca), "UV_HTTP_RETRIES": "0"},
            capture_output=True, text=True, timeout=TIMEOUT, check=False)

    done = subprocess.run([str(python), "-m", "pip", "install", "--no-cache-dir", "--cert",
                           str(certs / "ca.pem"), "--index-url", url, "--target",
                           str(tmp_path / "pip"), "team-tls"], env=sandbox.env,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert installed(tmp_path / "pip", "team_tls") == ("local", "1.0"), done.stderr
    done = uv(url, certs / "ca.pem", tmp_path / "uv")
    assert installed(tmp_path / "uv", "team_tls") == ("local", "1.0"), done.stderr

    naive = tmp_path / "naive"
    naive.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", "key.pem", "-out", "cert.pem"], cwd=naive,
                   capture_output=True, timeout=TIMEOUT, check=True)
    repo = certs.parent / "repo"
    with serving_tls(repo, naive / "cert.pem", naive / "key.pem", naive / "cert.pem",
                     sandbox.env, tmp_path / "naive.log") as naive_url:
        done = uv(naive_url, naive / "cert.pem", tmp_path / "naive-uv")
    assert done.returncode != 0 and "CaUsedAsEndEntity" in done.stderr, done.stderr


def test_the_builtin_profile_with_no_serve_running_says_how_to_start_it(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """The new-user pass: `wrap pip install` through `local` with serve stopped waited and
    ended in "Connection refused" only; `pipwrap test` already said what to do."""
    env = dict(sandbox.env)
    env.pop("PIPWRAP_CONFIG")
    sandbox.config.unlink(missing_ok=True)  # no config: the built-in `local` profile
    rc = sandbox.home / "rc"
    rc.write_text(shells.init_line("bash") + "\n")
    (sandbox.home / "script").write_text(
        "wrap pip download -q --no-deps -d ~/d foo; echo status=$?\n")
    out, err = tmp_path / "out", tmp_path / "err"
    with on_port_8080() as prefix:  # nothing listens on this 8080
        argv = [*prefix, "bash", "--noprofile", "--rcfile", str(rc), "-i", "-c",
                f"source '{sandbox.home}/script'"]
        run_leaving_jobs(argv, env, sandbox.home, out, err, timeout=120)
    output = out.read_text() + err.read_text()
    assert "status=0" not in output, output
    assert "is `pipwrap serve` running? start it with: pipwrap serve" in output, output
