"""Options that name the profile's own URLs run (issue 21, item 10); twine without an
upload-url says what to do (item 9).

From real-world flows: `pip-compile --index-url <the profile's own URL>` (what a team's
Makefile or its own output header says) and `twine upload --repository-url <the profile's
own upload-url>` (a release script). The same options with any other URL stay refused.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import hosting
from tests.support.sandbox import Indexes, Sandbox, write_file
from tests.support.wheels import make_wheel

TOOLS = Path(sys.executable).parent  # pip-compile and twine of the test extra


@pytest.mark.parametrize("spelling", ["--index-url {url}", "-i {url}", "--index-url={url}"])
def test_pip_compile_with_the_profiles_own_index_url(sandbox: Sandbox, indexes: Indexes,
                                                     spelling: str) -> None:
    project = sandbox.home / "proj"
    write_file(project / "req.in", "foo\n")
    own = spelling.format(url=indexes.local.url)
    other = spelling.format(url=indexes.upstream.url)
    done = sandbox.sh("bash", "\n".join([
        f"cd {project}", f"export PATH=$PATH:{TOOLS}",
        f"wrap pip-compile -q {own} -o own.txt req.in; echo own=$?",
        f"wrap pip-compile -q {other} -o other.txt req.in; echo other=$?",
    ]))
    assert "own=0" in done.stdout, done.stdout + done.stderr
    assert "foo==1.0" in (project / "own.txt").read_text()
    assert "other=3" in done.stdout, done.stdout + done.stderr
    assert "gives the tool a package source besides the profile's index" in done.stderr
    assert "is remote" not in done.stderr
    assert not (project / "other.txt").exists()


@pytest.fixture
def open_server(tmp_path: Path, sandbox: Sandbox) -> Iterator[hosting.Served]:
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--no-fallback", "--auth",
                               "none", env=hosting.child_env(sandbox.home)) as served:
        yield served


@pytest.mark.parametrize("spelling", ["--repository-url {url}", "--repository-url={url}",
                                      "--repository-u {url}"])
def test_twine_with_the_profiles_own_repository_url(
        sandbox: Sandbox, open_server: hosting.Served, tmp_path: Path, spelling: str) -> None:
    upload = open_server.base + "/"
    sandbox.write_config(f'default = "team"\n[profiles.team]\nindex-url = "{open_server.url}"\n'
                         f'upload-url = "{upload}"\n')
    first = make_wheel(tmp_path / "d1", "released", "1.0", "team")
    second = make_wheel(tmp_path / "d2", "released", "2.0", "team")
    done = sandbox.sh("bash", "\n".join([
        f"export PATH=$PATH:{TOOLS}",
        f"wrap twine upload --disable-progress-bar {spelling.format(url=upload)} {first}; "
        "echo own=$?",
        # The same server without its trailing slash is the same URL.
        f"wrap twine upload --disable-progress-bar --repository-url {open_server.base} "
        f"{second}; echo bare=$?",
        f"wrap twine upload --disable-progress-bar "
        f"{spelling.format(url=open_server.base + '/other/')} {second}; echo other=$?",
    ]))
    assert "own=0" in done.stdout and "bare=0" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "repo" / "released" / first.name).is_file()
    assert "other=3" in done.stdout, done.stdout + done.stderr
    assert "names an upload destination" in done.stderr


def test_twine_without_an_upload_url_says_what_to_do(sandbox: Sandbox,
                                                     tmp_path: Path) -> None:
    sandbox.write_config('default = "corp"\n[profiles.corp]\n'
                         'index-url = "https://pkgs.example/simple/"\n')
    wheel = make_wheel(tmp_path / "dist", "released", "1.0", "team")
    done = sandbox.sh("bash", f"export PATH=$PATH:{TOOLS}\n"
                              f"wrap twine upload {wheel}; echo status=$?")
    assert "status=3" in done.stdout, done.stdout + done.stderr
    first = next(line for line in done.stderr.splitlines() if "refused" in line)
    assert first == ("pipwrap: refused: command line: twine upload with profile 'corp', "
                     "which has no upload-url, would send your distributions to the public "
                     "index; give it one with: pipwrap set-url corp --upload-url URL (or run "
                     "twine without wrap)."), done.stderr
    # No second line about package sources: the sentence says what to do.
    assert "package source" not in done.stderr, done.stderr
