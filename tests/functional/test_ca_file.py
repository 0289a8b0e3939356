"""Your own CA, client side: `add --ca-file`, `set-url --ca-file`, `show`, and
`pipwrap test` verifying a real TLS index on loopback against it (issue 21, item 6)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import static_index
from tests.support.sandbox import Sandbox
from tests.support.wheels import make_wheel


def cli(sandbox: Sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env={**sandbox.env, **env},
                          capture_output=True, text=True, check=False, cwd=sandbox.home,
                          timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def tls_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An https index on 127.0.0.1 whose leaf (SAN IP:127.0.0.1, not a CA) is signed by a
    test CA: (the index URL, the CA's PEM file)."""
    root = tmp_path_factory.mktemp("tls")
    ca = static_index.make_ca(root / "ca")
    tree = static_index.tree(root / "tree", [make_wheel(root / "w", "Foo", "1.0", "local")])
    with static_index.serve(tree, context=ca.server_context(root / "leaf")) as server:
        yield server.url, ca.cert


def test_add_with_ca_file_then_show_and_test_verify_against_it(
        sandbox: Sandbox, tls_index: tuple[str, Path]) -> None:
    url, ca = tls_index
    done = cli(sandbox, "add", "tls", url, "--ca-file", str(ca))
    assert done.returncode == 0, done.stderr
    assert f'ca-file = "{ca}"' in sandbox.config.read_text()
    shown = cli(sandbox, "show", "tls")
    assert f"ca-file: {ca}" in shown.stdout, shown.stdout
    assert json.loads(cli(sandbox, "show", "tls", "--json").stdout)["ca_file"] == str(ca)
    tested = cli(sandbox, "test", "tls")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.startswith("ok"), tested.stdout


def test_without_the_ca_file_test_fails_verification_and_says_how_to_fix(
        sandbox: Sandbox, tls_index: tuple[str, Path]) -> None:
    url, ca = tls_index
    sandbox.write_config(f'default = "tls"\n[profiles.tls]\nindex-url = "{url}"\n')
    # CA variables the fence does not read must not make `test` pass where it would not.
    tested = cli(sandbox, "test", "tls", REQUESTS_CA_BUNDLE=str(ca), CURL_CA_BUNDLE=str(ca))
    assert tested.returncode == 1, tested.stdout
    assert "certificate" in tested.stdout and "--ca-file" in tested.stdout, tested.stdout
    set_ca = cli(sandbox, "set-url", "tls", "--ca-file", str(ca))
    assert set_ca.returncode == 0, set_ca.stderr
    assert f"tls: ca-file = {ca}" in set_ca.stdout
    assert cli(sandbox, "test", "tls").returncode == 0
    # And the index URL is unchanged.
    assert json.loads(cli(sandbox, "show", "tls", "--json").stdout)["index_url"] == url
    removed = cli(sandbox, "set-url", "tls", "--no-ca-file")
    assert removed.returncode == 0, removed.stderr
    assert "ca-file" not in sandbox.config.read_text()


def test_a_relative_ca_file_is_stored_absolute(sandbox: Sandbox,
                                               tls_index: tuple[str, Path]) -> None:
    url, ca = tls_index
    copy = sandbox.home / "certs" / "corp-ca.pem"
    copy.parent.mkdir()
    copy.write_bytes(ca.read_bytes())
    done = subprocess.run([sys.executable, "-m", "pipwrap", "add", "tls", url, "--ca-file",
                           "corp-ca.pem"], env=sandbox.env, cwd=copy.parent, capture_output=True,
                          text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f'ca-file = "{copy}"' in sandbox.config.read_text()


@pytest.mark.parametrize("problem", ["missing", "unreadable", "not PEM", "a directory"])
def test_a_bad_ca_file_is_refused_naming_the_file(sandbox: Sandbox, problem: str,
                                                  tls_index: tuple[str, Path]) -> None:
    path = sandbox.home / "ca.pem"
    if problem == "unreadable":
        path.write_bytes(tls_index[1].read_bytes())  # a good CA file, but not to be read
        path.chmod(0)
    elif problem == "not PEM":
        path.write_text("just some text, no certificate\n")
    elif problem == "a directory":
        path.mkdir()
    before = sandbox.config.read_text()
    for args in (["add", "tls", "https://127.0.0.1:1/simple/", "--ca-file", str(path)],
                 ["set-url", "upstream", "--ca-file", str(path)]):
        done = cli(sandbox, *args)
        if problem == "unreadable" and done.returncode == 0:
            pytest.skip("running as root: mode 000 does not stop reading")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert str(path) in done.stderr and "--ca-file" in done.stderr, done.stderr
        assert sandbox.config.read_text() == before


def test_test_names_a_ca_file_that_went_missing(sandbox: Sandbox,
                                                tls_index: tuple[str, Path]) -> None:
    url, _ = tls_index
    gone = sandbox.home / "gone.pem"
    sandbox.write_config(f'default = "tls"\n[profiles.tls]\nindex-url = "{url}"\n'
                         f'ca-file = "{gone}"\n')
    done = cli(sandbox, "test", "tls")
    assert done.returncode == 1
    assert str(gone) in done.stdout and "Traceback" not in done.stderr, done.stdout
