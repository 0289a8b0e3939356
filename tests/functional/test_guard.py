"""The guard: every way a second source can ride in on a pip/uv command line or file.

Each vector is staged so that WITHOUT pipwrap the evil Foo 9.9.9 is installed (the test
checks that first), and WITH `wrap` the command is refused before anything runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.sandbox import Indexes, Sandbox, installed, stage_attack, write_file

EVIL = ("evil", "9.9.9")
LOCAL = ("local", "1.0")


def _cli_vectors(up: str, evil_dir: Path) -> dict[str, str]:
    return {
        "--extra-index-url URL": f"--extra-index-url {up}",
        "--extra-index-url=URL": f"--extra-index-url={up}",
        "--extra URL (abbreviation)": f"--extra {up}",
        "--extra-ind=URL (abbreviation)": f"--extra-ind={up}",
        "-i URL": f"-i {up}",
        "-iURL": f"-i{up}",
        "-qi URL (clustered)": f"-qi {up}",
        "--index-url URL": f"--index-url {up}",
        "--ind=URL (abbreviation)": f"--ind={up}",
        "-f DIR": f"-f {evil_dir}",
        "-fDIR": f"-f{evil_dir}",
        "--find-links DIR": f"--find-links {evil_dir}",
        "--find DIR (abbreviation)": f"--find {evil_dir}",
    }


VECTOR_NAMES = list(_cli_vectors("U", Path("D")))


def _attack(sandbox: Sandbox, indexes: Indexes, options: str, shell: str = "bash",
            **env: str) -> None:
    stage_attack(sandbox, indexes, f"pip install -q --target TARGET {options} foo",
                 shell=shell, **env)


@pytest.mark.parametrize("vector", VECTOR_NAMES)
def test_command_line_sources_are_refused(sandbox: Sandbox, indexes: Indexes, vector: str) -> None:
    options = _cli_vectors(indexes.upstream.url, indexes.evil_dir)[vector]
    _attack(sandbox, indexes, options)


@pytest.mark.parametrize("shell", ("zsh", "fish"))
def test_command_line_refused_in_other_shells(sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    _attack(sandbox, indexes, f"--extra-index-url {indexes.upstream.url}", shell)


def test_refusal_names_option_and_why(sandbox: Sandbox, indexes: Indexes) -> None:
    done = sandbox.sh("bash", f"wrap pip install --extra {indexes.upstream.url} foo")
    assert "--extra (read by pip as --extra-index-url)" in done.stderr
    assert "dependency confusion" in done.stderr
    assert "without wrap" in done.stderr


@pytest.mark.parametrize("option", ["--isolated", "--isol", "--trusted-host 127.0.0.1",
                                    "--trusted-host=example.com"])
def test_isolated_and_trusted_host_are_refused(sandbox: Sandbox, option: str) -> None:
    done = sandbox.sh("bash", f"cd ~\nwrap pip install {option} foo\necho status=$?\n",
                      PIP_TARGET=str(sandbox.home / "t"))
    assert done.stdout.strip() == "status=3", done.stderr
    assert not (sandbox.home / "t").exists()



def test_requirement_file(sandbox: Sandbox, indexes: Indexes) -> None:
    req = write_file(sandbox.home / "req.txt", f"# ours\n--extra-index-url {indexes.upstream.url}\n")
    _attack(sandbox, indexes, f"-r {req}")
    done = sandbox.sh("bash", "cd ~\nwrap pip install -r req.txt\n")
    assert "req.txt:2" in done.stderr


def test_nested_requirement_file_relative_to_including_file(
    sandbox: Sandbox, indexes: Indexes
) -> None:
    write_file(sandbox.home / "reqs/deeper/inner.txt", f"--find-links {indexes.evil_dir}\n")
    write_file(sandbox.home / "reqs/outer.txt", "-r deeper/inner.txt\n")
    _attack(sandbox, indexes, "--requirement reqs/outer.txt")
    done = sandbox.sh("bash", "cd ~\nwrap pip install -r reqs/outer.txt foo\n")
    assert "inner.txt:1" in done.stderr


def test_line_continuation_in_requirement_file(sandbox: Sandbox, indexes: Indexes) -> None:
    write_file(sandbox.home / "req.txt", f"--extra-index-url \\\n    {indexes.upstream.url}\n")
    _attack(sandbox, indexes, "-r req.txt")


def test_abbreviation_and_env_variable_in_requirement_file(
    sandbox: Sandbox, indexes: Indexes
) -> None:
    write_file(sandbox.home / "req.txt", "--extra-ind ${EVIL_INDEX}\n")
    _attack(sandbox, indexes, "-r req.txt", EVIL_INDEX=indexes.upstream.url)


def test_constraint_file(sandbox: Sandbox, indexes: Indexes) -> None:
    write_file(sandbox.home / "c.txt", f"--find-links={indexes.evil_dir}\n")
    _attack(sandbox, indexes, "-c c.txt")


def test_pip_constraint_variable(sandbox: Sandbox, indexes: Indexes) -> None:
    c = write_file(sandbox.home / "c.txt", f"--extra-index-url {indexes.upstream.url}\n")
    _attack(sandbox, indexes, "", PIP_CONSTRAINT=str(c))


def test_constraint_from_pip_conf(sandbox: Sandbox, indexes: Indexes) -> None:
    c = write_file(sandbox.home / "c.txt", f"--extra-index-url {indexes.upstream.url}\n")
    write_file(sandbox.home / ".config/pip/pip.conf", f"[install]\nconstraint = {c}\n")
    _attack(sandbox, indexes, "")


def test_python_m_pip_is_guarded(sandbox: Sandbox, indexes: Indexes) -> None:
    done = sandbox.sh("bash", f"cd ~\nwrap python -m pip install -i {indexes.upstream.url} foo\n"
                      "echo status=$?\n", PIP_TARGET=str(sandbox.home / "t"))
    assert done.stdout.strip() == "status=3", done.stderr


def test_alias_is_guarded_after_expansion(sandbox: Sandbox, indexes: Indexes) -> None:
    done = sandbox.sh("bash", f"alias _p=pip\nwrap _p install --extra {indexes.upstream.url} "
                      "foo\necho status=$?\n")
    assert done.stdout.strip() == "status=3", done.stderr


@pytest.mark.parametrize("option", ["--extra-index-url", "--index"])
def test_uv_pip_sources_are_refused(sandbox: Sandbox, indexes: Indexes, venv: Path,
                                    option: str) -> None:
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    python = venv / "bin/python"
    script = (
        f"UV_DEFAULT_INDEX={indexes.local.url} uv pip install -q --python {python} "
        f"--target {bare} {option} {indexes.upstream.url} foo\n"
        f"wrap uv pip install -q --python {python} --target {wrapped} {option} "
        f"{indexes.upstream.url} foo\necho status=$?\n"
    )
    done = sandbox.sh("bash", script)
    assert installed(bare) == EVIL, done.stderr
    assert done.stdout.strip() == "status=3", done.stderr
    assert not wrapped.exists()


# --- what must NOT be refused ---------------------------------------------------------


def test_comments_and_plain_requirements_pass(sandbox: Sandbox) -> None:
    write_file(sandbox.home / "req.txt",
           "foo  # --extra-index-url http://evil/ in a comment\n# -f /tmp\n--prefer-binary\n")
    target = sandbox.home / "t"
    done = sandbox.sh("bash", "cd ~\nwrap pip install -r req.txt\n", PIP_TARGET=str(target))
    assert done.returncode == 0, done.stderr
    assert installed(target) == LOCAL


def test_missing_requirement_file_is_pips_to_report(sandbox: Sandbox) -> None:
    done = sandbox.sh("bash", "cd ~\nwrap pip install -r nope.txt\necho status=$?\n")
    assert "refused" not in done.stderr
    assert "nope.txt" in done.stderr  # pip's own message
    assert done.stdout.strip() == "status=1"


def test_no_index_and_non_pip_commands_pass(sandbox: Sandbox) -> None:
    done = sandbox.sh("bash", "wrap echo --extra-index-url x -i y\n"
                      "wrap pip install --no-index foo; echo status=$?\n")
    assert done.stdout.splitlines()[0] == "--extra-index-url x -i y"
    assert done.stdout.strip().splitlines()[-1] == "status=1"  # pip: no index, not refused
    assert "refused" not in done.stderr


def test_remote_requirement_file_is_refused(sandbox: Sandbox, indexes: Indexes) -> None:
    done = sandbox.sh("bash", f"wrap pip install -r {indexes.local.url}req.txt\necho status=$?\n")
    assert done.stdout.strip() == "status=3"
    assert "is remote" in done.stderr


def test_pipwrap_run_is_guarded_too(sandbox: Sandbox, indexes: Indexes) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pipwrap", "run", "--", "pip", "install",
                           "--extra-index-url", indexes.upstream.url, "foo"],
                          env=sandbox.env, capture_output=True, text=True, check=False)
    assert done.returncode == 3
    assert "refused" in done.stderr


@pytest.mark.parametrize("option", ["--index-strategy unsafe-best-match", "--default-index URL",
                                    "--find-links DIR", "--config-file FILE", "-i URL"])
def test_other_uv_source_options_are_refused(sandbox: Sandbox, indexes: Indexes,
                                             option: str) -> None:
    option = (option.replace("URL", indexes.upstream.url).replace("DIR", str(indexes.evil_dir))
              .replace("FILE", str(sandbox.home / "uv.toml")))
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f"wrap uv pip install --target {target} {option} foo\n"
                      "echo status=$?\n")
    assert done.stdout.strip() == "status=3", done.stderr
    assert "refused" in done.stderr
    assert not target.exists()
