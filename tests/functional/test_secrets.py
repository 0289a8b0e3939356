"""A login reaches pip and uv through a private netrc, never through argv, a trace or a
cached shell variable, and a rotated password-env secret is used on the next call."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sandbox import PRIVATE_SECRET, Sandbox, installed
from tests.support.servers import PyPIServer
from tests.support.shells import SHELLS

SECRET = PRIVATE_SECRET


def _config(sandbox: Sandbox, url: str) -> None:
    sandbox.write_config(
        f'default = "corp"\n[profiles.corp]\nindex-url = "{url}"\n'
        'username = "alice"\npassword-env = "CORP_TOKEN"\n'
    )


TRACE_ON = {"bash": "set -x", "zsh": "setopt xtrace", "fish": "set fish_trace 1"}
DUMP = {"bash": "declare -p", "zsh": "typeset -p", "fish": "set -S"}


@pytest.mark.parametrize("shell", SHELLS)
def test_login_works_and_no_secret_is_traced_or_kept(
        sandbox: Sandbox, private_index: PyPIServer, venv: Path, shell: str) -> None:
    _config(sandbox, private_index.url)
    pip_target, uv_target = sandbox.home / "pip", sandbox.home / "uv"
    script = (
        f"{TRACE_ON[shell]}\n"
        f"wrap pip install -q --target {pip_target} foo\n"
        f"wrap uv pip install -q --python {venv}/bin/python --target {uv_target} foo\n"
        f"{DUMP[shell]}\n"
    )
    done = sandbox.sh(shell, script, CORP_TOKEN=SECRET)
    assert installed(pip_target) == ("local", "1.0"), done.stderr
    assert installed(uv_target) == ("local", "1.0"), done.stderr
    # The user's own CORP_TOKEN is theirs to show; pipwrap must add no copy of it.
    assert done.stdout.count(SECRET) + done.stderr.count(SECRET) <= 2, done.stdout[-3000:]
    assert f"alice:{SECRET}" not in done.stdout + done.stderr


def test_without_the_login_the_index_refuses(sandbox: Sandbox,
                                             private_index: PyPIServer) -> None:
    """The control: the netrc is what authenticates."""
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f"PIP_INDEX_URL={private_index.url} pip install -q "
                      f"--target {target} foo")
    assert done.returncode != 0
    assert installed(target) is None


def test_a_rotated_secret_is_used_on_the_next_call(sandbox: Sandbox,
                                                  private_index: PyPIServer) -> None:
    _config(sandbox, private_index.url)
    one, two = sandbox.home / "one", sandbox.home / "two"
    script = (
        "export CORP_TOKEN=wrong\n"
        f"wrap pip install -q --target {one} foo\necho first=$?\n"
        f"export CORP_TOKEN={SECRET}\n"
        f"wrap pip install -q --target {two} foo\necho second=$?\n"
    )
    done = sandbox.sh("bash", script)
    assert "second=0" in done.stdout, done.stderr
    assert installed(one) is None
    assert installed(two) == ("local", "1.0")


class _V6Index(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture
def v6_index() -> Iterator[int]:
    """An index on [::1] that answers every page (so `pipwrap test` reports a success)."""
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = _V6Index(("::1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_a_password_in_an_ipv6_url_is_masked_in_every_output(sandbox: Sandbox,
                                                            v6_index: int) -> None:
    """`http://alice:PW@[::1]:PORT/` was printed in clear: the mask's host had no `:`."""
    sandbox.write_config(
        'default = "v6"\n'
        f'[profiles.v6]\nindex-url = "http://alice:{SECRET}@[::1]:{v6_index}/simple/"\n'
        f'[profiles.gone]\nindex-url = "http://alice:{SECRET}@[::1]:1/simple/"\n')
    outputs = []
    for args in (["list"], ["show", "v6"], ["current"], ["config", "show"], ["doctor"],
                 ["test", "v6"], ["test", "gone"], ["test"]):
        done = subprocess.run([sys.executable, "-m", "pipwrap", *args], env=sandbox.env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert "Traceback" not in done.stderr, done.stderr
        text = done.stdout + done.stderr
        assert f"[::1]:{v6_index}" in text or "[::1]:1/" in text, (args, text)
        assert SECRET not in text, (args, text)
        outputs.append(text)
    assert any("alice:****@[::1]" in text for text in outputs)
