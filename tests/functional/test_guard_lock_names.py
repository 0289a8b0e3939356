"""Attacks on how the guard reads lock files, URLs and project indexes, each staged first.

A lock entry whose file is another project's (the fence checks a file against its own
project's page only); URLs that do not parse (a message, never a traceback); URLs a WHATWG
parser (uv's) reads differently from Python's; an index the repository brings along.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.support.sandbox import (
    Indexes,
    Sandbox,
    installed,
    uv_project_locked_locally,
    write_file,
)

_BACKEND = (
    "import os, shutil\n"
    "WHEEL = 'foo-9.9.9-py3-none-any.whl'\n"
    "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
    "    shutil.copy(os.path.join(os.path.dirname(__file__), WHEEL), wheel_directory)\n"
    "    return WHEEL\n"
)


def _publish_evilhelper(indexes: Indexes) -> Path:
    """``evilhelper-1.0.tar.gz`` upstream: an sdist with an in-tree backend that builds
    the evil Foo 9.9.9 (its PKG-INFO says so too). Nobody holds evilhelper locally."""
    target = indexes.upstream.root / "evilhelper-1.0.tar.gz"
    if target.exists():
        return target
    wheel = indexes.upstream.root / "foo-9.9.9-py3-none-any.whl"
    files = {
        "PKG-INFO": b"Metadata-Version: 2.1\nName: foo\nVersion: 9.9.9\n",
        "pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                          b'backend-path = ["."]\n',
        "backend.py": _BACKEND.encode(),
        wheel.name: wheel.read_bytes(),
    }
    partial = target.with_suffix(".part")
    with tarfile.open(partial, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"evilhelper-1.0/{name}")
            info.size = len(data)
            import io

            archive.addfile(info, io.BytesIO(data))
    partial.rename(target)
    return target


def _evil_sdist_table(indexes: Indexes) -> str:
    sdist = _publish_evilhelper(indexes)
    data = sdist.read_bytes()
    url = indexes.upstream.url.removesuffix("simple/") + f"packages/{sdist.name}"
    return (f'{{ url = "{url}", hash = "sha256:{hashlib.sha256(data).hexdigest()}", '
            f"size = {len(data)} }}")


def _uv_project(sandbox: Sandbox, indexes: Indexes) -> Path:
    """A uv project locked against the local index, foo's entry then pointed at
    evilhelper's sdist as version 9.9.9 (its registry still the profile's index)."""
    project = uv_project_locked_locally(sandbox, indexes)
    lock = (project / "uv.lock").read_text()
    lock, count = re.subn(
        r'(name = "foo"\n)version = "1.0"\n(source = \{ registry = "[^"]+" \}\n)wheels = \[\n'
        r"(?:    .*\n)+\]\n",
        lambda m: f'{m[1]}version = "9.9.9"\n{m[2]}sdist = {_evil_sdist_table(indexes)}\n',
        lock)
    assert count == 1, lock
    (project / "uv.lock").write_text(lock)
    return project


def test_a_uv_lock_entry_whose_file_is_another_project(sandbox: Sandbox,
                                                        indexes: Indexes) -> None:
    project = _uv_project(sandbox, indexes)
    show = (".venv/bin/python -c 'import foo; print(foo.ORIGIN, foo.VERSION)'")
    uv = f"uv sync -q --frozen --python {sys.executable} --cache-dir {sandbox.home}/uvc"
    done = sandbox.sh("bash", f"cd {project}\n{uv} && {show}\nrm -rf .venv\n"
                      f"wrap {uv}\necho status=$?\nwrap uv run --python {sys.executable} "
                      "true\necho status=$?\npipwrap check -- uv sync\necho status=$?\n"
                      "pipwrap doctor\n")
    assert "evil 9.9.9" in done.stdout, f"the staged lock did not install:\n{done.stderr}"
    assert done.stdout.count("status=3") == 3, done.stdout + done.stderr
    assert "uv.lock:" in done.stderr and "evilhelper-1.0.tar.gz" in done.stderr
    assert "not a file of that project" in done.stderr
    assert not list(project.glob(".venv/lib/*/site-packages/foo"))
    doctor = done.stdout.split("status=3")[-1]
    assert "evilhelper-1.0.tar.gz" in doctor, doctor


@pytest.mark.parametrize("form", ["sdist", "wheels", "archive", "wheel-name"])
def test_a_pylock_entry_whose_file_is_another_project(sandbox: Sandbox, indexes: Indexes,
                                                      venv: Path, form: str) -> None:
    sdist = _publish_evilhelper(indexes)
    table = _evil_sdist_table(indexes).replace("hash = \"sha256:", "hashes = { sha256 = \"")
    table = table.replace('", size', '" }, size')
    named = table.replace("{ url", '{ name = "x.whl", url')
    body = {"sdist": f"sdist = {table}\n", "archive": f"archive = {table}\n",
            "wheels": f"wheels = [{table}]\n", "wheel-name": f"wheels = [{named}]\n"}[form]
    write_file(sandbox.home / "pylock.toml", (
        'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "foo"\n'
        f'version = "9.9.9"\nindex = "{indexes.local.url}"\n{body}'))
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    python = venv / "bin/python"
    uv = f"uv pip install -q --python {python} --cache-dir {sandbox.home}/uvc"
    done = sandbox.sh("bash", f"cd ~\n{uv} --target {bare} -r pylock.toml\n"
                      f"wrap {uv} --target {wrapped} -r pylock.toml\necho status=$?\n")
    if form == "sdist":  # the form uv installs: the others are refused the same way
        assert installed(bare) == ("evil", "9.9.9"), f"not staged:\n{done.stderr}"
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert "pylock.toml:" in done.stderr and (sdist.name in done.stderr
                                              or "x.whl" in done.stderr)
    assert not wrapped.exists()


def test_the_profiles_own_files_in_a_lock_still_pass(tmp_path: Path) -> None:
    from pipwrap.guard import lockfiles
    from pipwrap.guard.context import Context

    index = "http://127.0.0.1:9/simple/"
    write_file(tmp_path / "uv.lock", (
        '[[package]]\nname = "Foo.Bar"\nversion = "1.0"\n'
        f'source = {{ registry = "{index}" }}\n'
        'sdist = { url = "https://files.example/foo_bar-1.0.tar.gz" }\n'
        'wheels = [{ url = "https://files.example/foo_bar-1-py3-none-any.whl" }]\n'))
    lockfiles.check_lockfile(str(tmp_path / "uv.lock"), Context({}, str(tmp_path), index),
                             "test")


@pytest.mark.parametrize("entry", [
    'url = "https://evil.example/foo-1.0-py3-none-any.whl"\n',  # a direct reference
    'git = "https://evil.example/foo.git"\nrevision = "0"\n',
    'files = [{url = "https://evil.example/evilhelper-1.0.tar.gz", hash = "sha256:00"}]\n',
])
def test_a_fallback_lets_by_only_a_pdm_locks_own_index_files(tmp_path: Path,
                                                             entry: str) -> None:
    """Under a fallback a registry-less pdm.lock file may be anywhere (the fence checks it
    against the composed page); a direct URL, a git source or another project's file may
    not."""
    from pipwrap.errors import RefusedError
    from pipwrap.guard import lockfiles
    from pipwrap.guard.context import Context

    ctx = Context({}, str(tmp_path), "http://127.0.0.1:9/simple/", has_fallback=True)
    head = '[[package]]\nname = "foo"\nversion = "1.0"\n'
    write_file(tmp_path / "pdm.lock", head + 'files = [{url = "https://files.example/'
                                              'foo-1.0-py3-none-any.whl", hash = "sha256:00"}]\n')
    lockfiles.check_lockfile(str(tmp_path / "pdm.lock"), ctx, "test")
    write_file(tmp_path / "pdm.lock", head + entry)
    with pytest.raises(RefusedError, match=r"pdm\.lock:[45]: foo"):
        lockfiles.check_lockfile(str(tmp_path / "pdm.lock"), ctx, "test")


def _check(sandbox: Sandbox, script: str) -> subprocess.CompletedProcess[str]:
    return sandbox.sh("bash", f"cd ~\n{script}\necho status=$?\n")


@pytest.mark.parametrize("command", [
    "pip install --index-url 'http://[::1/simple/' foo",
    "pip install 'foo @ http://[::1'",
    "pip install 'foo @ http://127.0.0.1:99999999/foo-1.0.tar.gz'",
    "pip-compile --index-url 'http://[::1/simple/' x.in",
    "uv pip install --extra-index-url 'http://[::1/simple/' foo",
])
def test_a_malformed_url_on_the_command_line(sandbox: Sandbox, command: str) -> None:
    done = _check(sandbox, f"pipwrap check -- {command}")
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert "Traceback" not in done.stderr
    assert "pipwrap: refused: command line:" in done.stderr


@pytest.mark.parametrize("files", [
    {"pyproject.toml": '[project]\nname = "a"\nversion = "0"\n\n[tool.uv]\n'
                       'index-url = "http://[::1/"\n'},
    {"pyproject.toml": '[project]\nname = "a"\nversion = "0"\n',
     "uv.lock": '[[package]]\nname = "foo"\nversion = "1.0"\n'
                'source = { registry = "http://127.0.0.1:99999999/" }\n'
                'sdist = { url = "http://127.0.0.1:99999999/foo-1.0.tar.gz" }\n'},
])
def test_a_malformed_url_in_a_project(sandbox: Sandbox, files: dict[str, str]) -> None:
    for name, text in files.items():
        write_file(sandbox.home / name, text)
    done = _check(sandbox, "pipwrap check -- uv sync\necho status=$?\npipwrap doctor")
    assert "status=3" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr
    name = "uv.lock" if "uv.lock" in files else "pyproject.toml"
    refusal = next(line for line in done.stderr.splitlines() if "refused:" in line)
    assert f"{name}:" in refusal and f"{name}:0" not in refusal
    assert "99999999" in done.stdout or "[::1" in done.stdout  # doctor names it


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:UP\\simple\\@127.0.0.1:LO/simple/",
    "http://127.0.0.1:LO/simple/\t",
    "http://127.0.0.1:UP /@127.0.0.1:LO/simple/",
    "http://127.0.0.1:UP\\@127.0.0.1:LO/simple/",
])
def test_urls_uv_reads_otherwise_are_never_the_profiles(sandbox: Sandbox, indexes: Indexes,
                                                        url: str) -> None:
    url = url.replace("UP", str(indexes.upstream.port)).replace("LO", str(indexes.local.port))
    quoted = "'" + url + "'"
    in_toml = url.replace("\\", "\\\\").replace("\t", "\\t")
    write_file(sandbox.home / "requirements.in", "foo\n")
    # Quoted: pip and uv unquote a requirement file's options as a POSIX shell does, so
    # an unquoted backslash is gone before either parses the URL.
    write_file(sandbox.home / "sub/requirements.in", f"--index-url {quoted}\nfoo\n")
    write_file(sandbox.home / "lock/pyproject.toml", '[project]\nname = "a"\nversion = "0"\n')
    write_file(sandbox.home / "lock/uv.lock", (
        f'[[package]]\nname = "foo"\nversion = "9.9.9"\nsource = {{ registry = "{in_toml}" }}\n'
        'wheels = [{ url = "http://127.0.0.1:1/foo-9.9.9-py3-none-any.whl" }]\n'))
    write_file(sandbox.home / "pyproject.toml", (
        '[project]\nname = "a"\nversion = "0"\n\n[[tool.uv.index]]\nname = "mine"\n'
        f'url = "{in_toml}"\ndefault = true\n'))
    done = _check(sandbox, f"pipwrap check -- uv pip install --index-url {quoted} foo\n"
                  "echo status=$?\npipwrap check -- uv sync\necho status=$?\n"
                  f"pipwrap check -- pip-compile --index-url {quoted} requirements.in\n"
                  "echo status=$?\npipwrap check -- pip-compile sub/requirements.in\n"
                  "echo status=$?\ncd lock && pipwrap check -- uv sync --frozen")
    assert done.stdout.count("status=3") == 5, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_vendored_flat_index_in_the_repository(sandbox: Sandbox, indexes: Indexes) -> None:
    project = sandbox.home / "proj"
    (project / "wheels").mkdir(parents=True)
    wheel = indexes.upstream.root / "foo-9.9.9-py3-none-any.whl"
    (project / "wheels" / wheel.name).write_bytes(wheel.read_bytes())
    write_file(project / "pyproject.toml", (
        '[project]\nname = "app"\nversion = "0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["foo"]\n\n[tool.uv]\npackage = false\n\n'
        '[[tool.uv.index]]\nname = "vendored"\nurl = "./wheels"\nformat = "flat"\n'
        'explicit = true\n\n[tool.uv.sources]\nfoo = { index = "vendored" }\n'))
    uv = f"uv sync -q --python {sys.executable} --cache-dir {sandbox.home}/uvc"
    show = ".venv/bin/python -c 'import foo; print(foo.ORIGIN, foo.VERSION)'"
    done = sandbox.sh("bash", f"cd {project}\n"
                      f"UV_DEFAULT_INDEX={indexes.local.url} {uv} && {show}\nrm -rf .venv\n"
                      f"wrap {uv}\necho status=$?\npipwrap doctor")
    assert "evil 9.9.9" in done.stdout, f"the staged project did not install:\n{done.stderr}"
    assert "status=3" in done.stdout, done.stderr
    assert "pyproject.toml:12" in done.stderr and "./wheels" in done.stderr
    assert not (project / ".venv").exists()
    assert "./wheels" in done.stdout.split("status=3")[1]  # doctor names it


@pytest.mark.parametrize("table", [
    '[[tool.pdm.source]]\nname = "vendored"\nurl = "./wheels"\ntype = "find_links"\n',
    '[[tool.pdm.source]]\nname = "vendored"\nurl = "file:///srv/wheels"\n',
    '[tool.uv]\nfind-links = ["./wheels"]\n',
    '[[tool.poetry.source]]\nname = "v"\nurl = "./wheels"\npriority = "primary"\n',
])
def test_other_repository_brought_indexes(sandbox: Sandbox, table: str) -> None:
    write_file(sandbox.home / "pyproject.toml",
               f'[project]\nname = "a"\nversion = "0"\n\n{table}')
    tool = next(t for t in ("pdm install", "poetry install", "uv sync")
                if t.split()[0] in table)
    done = _check(sandbox, f"pipwrap check -- {tool}")
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    # poetry is refused unless every source is the profile's index (installers.py).
    assert "pyproject.toml:" in done.stderr or "poetry's own sources" in done.stderr


def test_a_script_that_brings_its_own_flat_index(sandbox: Sandbox) -> None:
    write_file(sandbox.home / "s.py", (
        '# /// script\n# dependencies = ["foo"]\n# [[tool.uv.index]]\n# name = "v"\n'
        '# url = "./wheels"\n# format = "flat"\n# [tool.uv.sources]\n'
        '# foo = { index = "v" }\n# ///\nimport foo\n'))
    done = _check(sandbox, "pipwrap check -- uv run --script s.py")
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert "s.py:5" in done.stderr and "./wheels" in done.stderr


def test_doctor_with_an_index_variable_that_is_no_url(sandbox: Sandbox) -> None:
    done = _check(sandbox, "PIP_INDEX_URL='http://[::1/' pipwrap doctor")
    assert done.stdout.strip().splitlines()[-1] == "status=0", done.stderr
    assert "Traceback" not in done.stderr
    assert "PIP_INDEX_URL=http://[::1/" in done.stdout


@pytest.mark.parametrize("form", ["-r URL", "pip compile URL"])
def test_uv_with_a_remote_requirement_file(sandbox: Sandbox, indexes: Indexes, venv: Path,
                                          tmp_path: Path, form: str) -> None:
    """uv downloads a requirements input given as a URL (pip's -r does too, and was
    refused); joined to the working directory it read as a missing local file."""
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    write_file(served / "r.txt", f"--extra-index-url {indexes.upstream.url}\nfoo\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/r.txt"
        python = venv / "bin/python"
        command = (f"uv pip install -q --python {python} --cache-dir {sandbox.home}/uvc "
                   f"--target TARGET -r {url}" if form == "-r URL" else
                   f"uv pip compile -q --cache-dir {sandbox.home}/uvc -o TARGET {url}")
        bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
        done = sandbox.sh("bash", f"cd ~\n{command.replace('TARGET', str(bare))}\n"
                          f"wrap {command.replace('TARGET', str(wrapped))}\necho status=$?\n",
                          UV_INDEX_URL=indexes.local.url)
    finally:
        server.shutdown()
        server.server_close()
    staged = installed(bare) if form == "-r URL" else (
        "evil", "9.9.9") if "foo==9.9.9" in bare.read_text() else None
    assert staged == ("evil", "9.9.9"), f"the staged attack did not work:\n{done.stderr}"
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert f"requirement file {url} is remote" in done.stderr
    assert not wrapped.exists()


def test_a_uv_lock_whose_registry_is_a_vendored_directory(sandbox: Sandbox,
                                                          indexes: Indexes) -> None:
    """The lock of a vendored flat index, its pyproject then cleaned of the index: uv
    sync --frozen reads only the lock."""
    project = sandbox.home / "proj"
    (project / "wheels").mkdir(parents=True)
    wheel = indexes.upstream.root / "foo-9.9.9-py3-none-any.whl"
    (project / "wheels" / wheel.name).write_bytes(wheel.read_bytes())
    clean = ('[project]\nname = "app"\nversion = "0"\nrequires-python = ">=3.9"\n'
             'dependencies = ["foo"]\n\n[tool.uv]\npackage = false\n')
    write_file(project / "pyproject.toml", clean + (
        '\n[[tool.uv.index]]\nname = "vendored"\nurl = "./wheels"\nformat = "flat"\n'
        'explicit = true\n\n[tool.uv.sources]\nfoo = { index = "vendored" }\n'))
    uv = f"uv sync -q --frozen --python {sys.executable} --cache-dir {sandbox.home}/uvc"
    done = subprocess.run(["uv", "lock", "--default-index", indexes.local.url,
                           "--python", sys.executable], cwd=project, env=sandbox.env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    write_file(project / "pyproject.toml", clean)
    show = ".venv/bin/python -c 'import foo; print(foo.ORIGIN, foo.VERSION)'"
    done = sandbox.sh("bash", f"cd {project}\n{uv} && {show}\nrm -rf .venv\n"
                      f"wrap {uv}\necho status=$?\n")
    assert "evil 9.9.9" in done.stdout, f"the staged lock did not install:\n{done.stderr}"
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert "uv.lock:" in done.stderr and "wheels" in done.stderr
