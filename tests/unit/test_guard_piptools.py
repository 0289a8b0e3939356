"""The guard's table of pip-tools options that take a value, against pip-tools itself
(issue 21, item 10: `pip-compile --index-url URL` read URL as a requirement file)."""

from __future__ import annotations

import pytest

from pipwrap.errors import RefusedError
from pipwrap.guard import check
from pipwrap.guard.installers import _PIPTOOLS_VALUES

INDEX = "http://127.0.0.1:9/simple/"
UPLOAD = "http://127.0.0.1:9/"


def _click_options(program: str) -> tuple[set[str], set[str]]:
    """(options taking a value, flags) of the installed pip-tools command."""
    click = pytest.importorskip("click")
    module = "compile" if program == "pip-compile" else "sync"
    cli = pytest.importorskip(f"piptools.scripts.{module}").cli
    values: set[str] = set()
    flags: set[str] = set()
    for param in cli.params:
        if isinstance(param, click.Option):
            names = set(param.opts) | set(param.secondary_opts)
            (flags if param.is_flag or param.count else values).update(names)
    return values, flags


@pytest.mark.parametrize("program", sorted(_PIPTOOLS_VALUES))
def test_the_table_is_pip_tools_own(program: str) -> None:
    values, flags = _click_options(program)
    assert values <= _PIPTOOLS_VALUES[program], values - _PIPTOOLS_VALUES[program]
    # A flag read as taking a value would hide the word after it (a requirement file).
    assert not flags & _PIPTOOLS_VALUES[program]


@pytest.mark.parametrize("argv", [
    f"pip-compile --index-url {INDEX} req.in",
    f"pip-compile -i {INDEX} --output-file out.txt req.in",
    f"pip-compile --index-url={INDEX}/ req.in",
    f"pip-sync --index-url {INDEX} --python-executable /usr/bin/python3 req.txt",
])
def test_the_profiles_own_index_url_is_no_requirement_file(argv: str) -> None:
    check(argv.split(), {"PATH": "/usr/bin:/bin"}, index_url=INDEX)


@pytest.mark.parametrize("argv", [
    "pip-compile --index-url http://evil.example/simple/ req.in",
    "pip-compile --find-links http://evil.example/ req.in",
    "pip-compile -o out.txt http://evil.example/req.in",
])
def test_other_urls_stay_refused(argv: str) -> None:
    with pytest.raises(RefusedError):
        check(argv.split(), {"PATH": "/usr/bin:/bin"}, index_url=INDEX)


@pytest.mark.parametrize("argv", [
    f"twine upload --repository-url {UPLOAD} x.whl",
    f"twine upload --repository-url={UPLOAD.rstrip('/')} x.whl",
    f"twine upload --repository-ur {UPLOAD} x.whl",
    "python -m twine upload --repository-url http://ci:pw@127.0.0.1:9/ x.whl",
])
def test_twine_to_the_profiles_own_upload_url_runs(argv: str) -> None:
    check(argv.split(), {}, index_url=INDEX, upload_url=UPLOAD)


def test_twine_without_an_upload_url_says_what_to_do() -> None:
    with pytest.raises(RefusedError) as caught:
        check(["twine", "upload", "x.whl"], {}, index_url=INDEX, profile="corp")
    assert str(caught.value) == (
        "refused: command line: twine upload with profile 'corp', which has no upload-url, "
        "would send your distributions to the public index; give it one with: pipwrap "
        "set-url corp --upload-url URL (or run twine without wrap).")
    with pytest.raises(RefusedError, match=r"upload destination"):
        check(["twine", "upload", "--repository-url", UPLOAD, "x.whl"], {}, index_url=INDEX)
