"""What a wrapped uv is given, and what it must not keep (issue 21, items 5 and 9).

The profile's index reaches uv through a uv.toml pipwrap writes (``UV_CONFIG_FILE``), not
through ``UV_DEFAULT_INDEX``: uv takes a variable for a command-line option, and `uv add`
writes every command-line index into pyproject.toml. Real bash, real uv, the session's
pypiservers (local Foo 1.0 falling back to an upstream holding the evil Foo 9.9.9).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

from tests.support import shells, static_index
from tests.support.sandbox import Indexes, Sandbox, installed, uv_dir, write_file
from tests.support.uploads import anon_and_team
from tests.support.wheels import make_wheel

PRINT_FOO = "import foo; print('FOO', foo.ORIGIN, foo.VERSION)"
DEPRECATED = "deprecated"
LOCAL = ("local", "1.0")
# `pipwrap run` with the guard's check replaced by a no-op: what the fenced environment
# alone does with a command the guard would refuse.
FENCE_ONLY = ("import sys, pipwrap.guard as g; g.check = lambda *a, **k: None; "
              "from pipwrap.commands.run import execute; sys.exit(execute(sys.argv[1:]))")


def _uv_env(venv: Path, home: Path) -> dict[str, str]:
    return {"UV_PYTHON": str(venv / "bin/python"), "UV_PYTHON_DOWNLOADS": "never",
            "UV_CACHE_DIR": str(home / "uv-cache")}


def test_uv_add_leaves_no_index_in_pyproject_and_another_profile_can_lock(
        sandbox: Sandbox, indexes: Indexes, venv: Path) -> None:
    project = sandbox.home / "proj"
    project.mkdir()
    done = sandbox.sh("bash", (
        f"cd {project}\n"
        "wrap uv init -q --name proj --no-readme || exit 10\n"
        "wrap uv add -q foo || exit 11\n"
        f".venv/bin/python -c \"{PRINT_FOO}\" || exit 12\n"
        "cp pyproject.toml pyproject.after-add\n"
        # The lock names the first profile's index: installing from it under another
        # profile is refused; relocking is not (uv asks only the new index).
        "PIPWRAP_PROFILE=upstream wrap uv sync -q --frozen; echo frozen=$?\n"
        "PIPWRAP_PROFILE=upstream wrap uv lock -q; echo other=$?\n"
        "PIPWRAP_PROFILE=upstream wrap uv sync -q; echo synced=$?\n"
    ), **_uv_env(venv, sandbox.home))
    assert "FOO local 1.0" in done.stdout, done.stdout + done.stderr
    text = (project / "pyproject.after-add").read_text()
    assert "foo" in tomllib.loads(text)["project"]["dependencies"][0], text
    assert "index" not in tomllib.loads(text).get("tool", {}).get("uv", {}), text
    assert str(indexes.local.url) not in text, text
    assert "frozen=3" in done.stdout and "uv.lock:" in done.stderr, done.stderr
    assert "pyproject.toml" not in done.stderr, done.stderr
    assert "other=0" in done.stdout and "synced=0" in done.stdout, done.stdout + done.stderr
    # The lock records the index the other profile used, by its real URL.
    lock = (project / "uv.lock").read_text()
    assert f'registry = "{indexes.upstream.url}"' in lock, lock
    assert DEPRECATED not in done.stderr, done.stderr


def test_the_users_uv_settings_stay_out_and_every_uv_command_uses_the_profile(
        sandbox: Sandbox, indexes: Indexes, venv: Path) -> None:
    """The user's uv.toml and a project's [tool.uv] settings are not read (as with
    UV_NO_CONFIG before): an index there never joins; uv pip, add, lock, sync, run, tool
    install and uvx all get local Foo 1.0. No uv warning on the way (UV_NATIVE_TLS)."""
    write_file(sandbox.home / ".config/uv/uv.toml",
               f'[[index]]\nurl = "{indexes.upstream.url}"\ndefault = true\n'
               'index-strategy = "unsafe-best-match"\n')
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml", (
        '[project]\nname = "tiny"\nversion = "0.1"\nrequires-python = ">=3.8"\n'
        'dependencies = []\n\n[tool.uv]\npackage = false\n'))
    target = sandbox.home / "t"
    done = sandbox.sh("bash", (
        f"wrap uv pip install --target {target} foo || exit 10\n"
        f"cd {project}\n"
        "wrap uv add foo bar-baz || exit 11\n"
        "wrap uv lock || exit 12\n"
        "wrap uv sync || exit 13\n"
        f"wrap uv run python -c \"{PRINT_FOO}\" || exit 14\n"
        f"wrap uvx --from foo python -c \"{PRINT_FOO}\" || exit 16\n"
        "echo done\n"
    ), **_uv_env(venv, sandbox.home))
    assert done.stdout.strip().endswith("done"), done.stdout + done.stderr
    assert installed(target) == LOCAL
    assert done.stdout.count("FOO local 1.0") == 2, done.stdout
    assert "9.9.9" not in (project / "uv.lock").read_text()
    assert f'registry = "{indexes.local.url}"' in (project / "uv.lock").read_text()
    assert "warning" not in done.stderr.lower(), done.stderr
    assert "[[tool.uv.index]]" not in (project / "pyproject.toml").read_text()


def test_a_wrapped_uv_command_line_index_is_still_refused(sandbox: Sandbox, indexes: Indexes,
                                                          venv: Path) -> None:
    """The guard still refuses what it did: `uv add --index` and a project index."""
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml", (
        '[project]\nname = "tiny"\nversion = "0.1"\nrequires-python = ">=3.8"\n'
        'dependencies = []\n'))
    done = sandbox.sh("bash", (
        f"cd {project}\n"
        f"wrap uv add --index {indexes.upstream.url} foo; echo cli=$?\n"
        f"printf '[[tool.uv.index]]\\nurl = \"{indexes.upstream.url}\"\\n' >> pyproject.toml\n"
        "wrap uv lock; echo project=$?\n"
    ), **_uv_env(venv, sandbox.home))
    assert "cli=3" in done.stdout and "project=3" in done.stdout, done.stdout + done.stderr
    assert "pyproject.toml" in done.stderr, done.stderr


@pytest.fixture(scope="module")
def https_indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """Two https indexes holding Foo 1.0, both signed by one test CA: the profile's, and
    another the fence would refuse."""
    root = tmp_path_factory.mktemp("https")
    ca = static_index.make_ca(root / "ca")
    tree = static_index.tree(root / "tree", [make_wheel(root / "w", "Foo", "1.0", "local")])
    with static_index.serve(tree, context=ca.server_context(root / "s1")) as profile, \
            static_index.serve(tree, context=ca.server_context(root / "s2")) as other:
        yield profile.url, other.url, ca.cert


def test_uv_trusts_only_the_fence_and_says_nothing_about_native_tls(
        sandbox: Sandbox, https_indexes: tuple[str, str, Path], venv: Path) -> None:
    """Through the fence uv verifies the fence's certificates, with no deprecation
    warning. Told to skip the proxy (the guard bypassed) and to use the system store, it
    meets another index's own certificate, which the user's SSL_CERT_FILE would trust, and
    refuses it: the fence's CA (SSL_CERT_FILE, SSL_CERT_DIR) is all a wrapped uv trusts."""
    url, other, ca = https_indexes
    # The CA variables alone: in the network namespace the bypass would reach nothing at
    # all (tests/functional/test_isolation_wrap.py), hiding what they hold.
    sandbox.write_config(f'default = "tls"\n[profiles.tls]\nindex-url = "{url}"\n'
                         f'ca-file = "{ca}"\nisolation = "off"\n')
    python = venv / "bin/python"
    bare, fenced, bypass = (sandbox.home / name for name in ("bare", "fenced", "bypass"))
    install = f"uv pip install --python {python} --no-cache"
    no_proxy = " ".join(f"-u {name}" for name in (
        "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"))
    skip_fence = (f"env {no_proxy} UV_NATIVE_TLS=1 UV_SYSTEM_CERTS=1 {install} "
                  f"--index-url {other}")
    done = sandbox.sh("bash", (
        f"UV_SYSTEM_CERTS=1 {install} -q --index-url {other} --target {bare} foo; "
        "echo bare=$?\n"
        f"wrap {install} --target {fenced} foo; echo fenced=$?\n"
        f"{sys.executable} -c '{FENCE_ONLY}' {skip_fence} --target {bypass} foo 2>&1; "
        "echo bypass=$?\n"
    ), SSL_CERT_FILE=str(ca), UV_SYSTEM_CERTS="1", **_uv_env(venv, sandbox.home))
    assert "bare=0" in done.stdout and installed(bare) == LOCAL, done.stdout + done.stderr
    assert "fenced=0" in done.stdout and installed(fenced) == LOCAL, done.stderr
    assert DEPRECATED not in done.stderr and "UV_NATIVE_TLS" not in done.stderr, done.stderr
    assert "bypass=0" not in done.stdout and installed(bypass) is None, done.stdout
    # Not the fence's refusal: the connection went around it and failed verification.
    assert "pipwrap fence" not in done.stdout, done.stdout
    assert "certificate" in done.stdout.lower() or "UnknownIssuer" in done.stdout, done.stdout


# --- uv publish ---------------------------------------------------------------------------

def test_wrap_uv_publish_goes_to_the_upload_url_with_the_fences_login_and_no_prompt(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """The built-in-style profile (upload-url: the server's root, anyone may upload) and a
    login profile (password-env): `wrap uv publish` uploads to each, on a terminal where uv
    would prompt for what it lacks, and the command never holds the secret."""
    wheel = make_wheel(tmp_path / "dist", "Published", "1.0", "local")
    second = make_wheel(tmp_path / "dist2", "Published", "2.0", "local")
    env = sandbox.env
    with anon_and_team(sandbox, tmp_path, "s3cr3t") as (_open_server, closed):
        script = (
            f"wrap uv publish {wheel}; echo anon=$?\n"
            f"PIPWRAP_PROFILE=team UPLOAD_PW=s3cr3t wrap uv publish {second}; echo team=$?\n"
            "PIPWRAP_PROFILE=team UPLOAD_PW=s3cr3t wrap sh -c "
            "'cat /proc/$$/environ /proc/$$/cmdline | tr \"\\0\" \"\\n\" | "
            "grep -c s3[c]r3t'; echo env=$?\n"
            "exit\n")
        argv = shells.argv_for("bash", sandbox.home, script)
        started = time.monotonic()
        # A terminal: uv prompts there (and only there) for a login it lacks.
        seen = shells.interactive(argv, {**env, "PATH": f"{uv_dir()}:{env['PATH']}"},
                                  [("", 90)])
        assert time.monotonic() - started < 85, seen
        assert "Enter username" not in seen and "Enter password" not in seen, seen
        assert "anon=0" in seen and "team=0" in seen, seen
        assert "env=1" in seen, seen  # grep found nothing
        assert (tmp_path / "open" / "published" / wheel.name).is_file()
        assert (tmp_path / "closed" / "published" / second.name).is_file()
        assert "by ci" in closed.log_text(), closed.log_text()
    shown = subprocess.run([sys.executable, "-m", "pipwrap", "env", "--profile", "team"],
                           env={**env, "UPLOAD_PW": "s3cr3t"}, capture_output=True, text=True,
                           check=False, timeout=60)
    assert f"UV_PUBLISH_URL='{closed.base}/'" in shown.stdout, shown.stdout + shown.stderr
    assert "s3cr3t" not in shown.stdout


def test_wrap_uv_publish_without_an_upload_url_is_refused_before_any_prompt(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """uv's default is the public index: it would ask for a login there (on a terminal)
    and then be fenced. The guard refuses it first, as `twine upload`; --help still runs."""
    wheel = make_wheel(tmp_path / "dist", "Published", "1.0", "local")
    done = sandbox.sh("bash", f"wrap uv publish {wheel}; echo status=$?\n"
                      "wrap uv publish --help >/dev/null; echo help=$?\n")
    assert "status=3" in done.stdout, done.stdout + done.stderr
    assert "uv publish would upload to the public index" in done.stderr, done.stderr
    assert "upload-url" in done.stderr and "help=0" in done.stdout, done.stdout


def test_a_bare_token_in_the_index_url_is_not_given_to_uploaders(sandbox: Sandbox) -> None:
    """`https://TOKEN@host/` holds the secret in the user-name place: twine and uv publish
    get a placeholder user name (the fence sends the token), a `user:pass@` keeps its user."""
    sandbox.write_config(
        'default = "tok"\n[profiles.tok]\nindex-url = "http://t0ken-val@127.0.0.1:9/simple/"\n'
        'upload-url = "http://127.0.0.1:9/"\n'
        '[profiles.pair]\nindex-url = "http://bob:pw-val@127.0.0.1:9/simple/"\n'
        'upload-url = "http://127.0.0.1:9/"\n')
    shown = {name: subprocess.run(
        [sys.executable, "-m", "pipwrap", "env", "--reveal", "--profile", name],
        env=sandbox.env, capture_output=True, text=True, check=False, timeout=60)
        for name in ("tok", "pair")}
    for done in shown.values():
        assert done.returncode == 0, done.stderr
        assert "t0ken-val" not in done.stdout and "pw-val" not in done.stdout, done.stdout
    assert "TWINE_USERNAME='pipwrap'" in shown["tok"].stdout, shown["tok"].stdout
    assert "UV_PUBLISH_USERNAME='pipwrap'" in shown["tok"].stdout
    assert "TWINE_USERNAME='bob'" in shown["pair"].stdout, shown["pair"].stdout
    assert "UV_PUBLISH_USERNAME='bob'" in shown["pair"].stdout


@pytest.mark.parametrize("shell", shells.SHELLS)
def test_a_deleted_uv_config_is_written_again_for_the_next_command(
        sandbox: Sandbox, indexes: Indexes, venv: Path, shell: str) -> None:
    """The shell caches UV_CONFIG_FILE's path; a cache clean-up that deletes the file must
    make the next `wrap uv` resolve again (and get local Foo 1.0), not fail on a path that
    is gone."""
    first, second = sandbox.home / "t1", sandbox.home / "t2"
    status = "$status" if shell == "fish" else "$?"
    done = sandbox.sh(shell, (
        f"cd {sandbox.home}\n"
        f"wrap uv pip install -q --target {first} foo\necho first={status}\n"
        f"rm -rf {sandbox.home}/.local/share/pipwrap/uv\n"
        f"wrap uv pip install -q --target {second} foo\necho second={status}\n"
    ), **_uv_env(venv, sandbox.home))
    assert "first=0" in done.stdout and "second=0" in done.stdout, done.stdout + done.stderr
    assert installed(first) == LOCAL and installed(second) == LOCAL, done.stderr
