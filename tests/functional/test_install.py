"""End to end: real shells, real pip and uv, real pypiservers with an evil upstream.

Each attack test first shows that the leak really installs the evil Foo 9.9.9 without
pipwrap, so a passing `wrap` result proves the guard and not a broken setup.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.sandbox import (
    Indexes,
    Sandbox,
    assert_leak_wins_bare_and_loses_wrapped,
    installed,
    write_file,
)
from tests.support.shells import POSIX, SHELLS

LOCAL = ("local", "1.0")
EVIL = ("evil", "9.9.9")


def _target(sandbox: Sandbox, name: str = "target") -> Path:
    return sandbox.home / name


@pytest.mark.parametrize("shell", SHELLS)
def test_wrap_pip_install_gets_local_foo_and_upstream_bar_baz(sandbox: Sandbox, shell: str) -> None:
    target = _target(sandbox)
    done = sandbox.sh(shell, "wrap pip install foo bar-baz", PIP_TARGET=str(target))
    assert done.returncode == 0, done.stderr
    assert installed(target, "foo") == LOCAL
    assert installed(target, "bar_baz") == ("upstream", "2.0")


@pytest.mark.parametrize("shell", POSIX)
def test_aliases_expand_after_wrap(sandbox: Sandbox, shell: str) -> None:
    one, two = _target(sandbox, "one"), _target(sandbox, "two")
    script = (
        "alias _p=pip\n"
        "alias p='wrap _p'\n"
        f"PIP_TARGET={one} wrap _p install foo\n"
        f"PIP_TARGET={two} p install foo\n"
    )
    done = sandbox.sh(shell, script)
    assert done.returncode == 0, done.stderr
    assert installed(one) == LOCAL
    assert installed(two) == LOCAL


def test_fish_alias_works_without_trailing_space(sandbox: Sandbox) -> None:
    target = _target(sandbox)
    script = f"alias _p=pip\nalias p='wrap _p'\nPIP_TARGET={target} p install foo"
    done = sandbox.sh("fish", script)
    assert done.returncode == 0, done.stderr
    assert installed(target) == LOCAL


@pytest.mark.parametrize("shell", SHELLS)
def test_pipwrap_profile_switches_for_one_command(sandbox: Sandbox, shell: str) -> None:
    evil, local = _target(sandbox, "evil"), _target(sandbox, "local")
    script = (
        f"PIPWRAP_PROFILE=upstream PIP_TARGET={evil} wrap pip install foo\n"
        f"PIP_TARGET={local} wrap pip install foo\n"
    )
    done = sandbox.sh(shell, script)
    assert done.returncode == 0, done.stderr
    assert installed(evil) == EVIL  # the upstream profile really is upstream
    assert installed(local) == LOCAL  # and the next command is back on the default


@pytest.mark.parametrize("shell", SHELLS)
def test_python_m_pip_is_wrapped_too(sandbox: Sandbox, shell: str) -> None:
    target = _target(sandbox)
    done = sandbox.sh(shell, f"wrap python -m pip install --target {target} foo")
    assert done.returncode == 0, done.stderr
    assert installed(target) == LOCAL


# --- attacks through the environment and pip config layers -------------------------


def _leak_user_pip_conf(sandbox: Sandbox, indexes: Indexes) -> dict[str, str]:
    write_file(sandbox.home / ".config/pip/pip.conf",
               f"[global]\nextra-index-url = {indexes.upstream.url}\n")
    return {}


def _leak_legacy_user_pip_conf(sandbox: Sandbox, indexes: Indexes) -> dict[str, str]:
    write_file(sandbox.home / ".pip/pip.conf",
               f"[install]\nextra-index-url = {indexes.upstream.url}\n")
    return {}


def _leak_global_pip_conf(sandbox: Sandbox, indexes: Indexes) -> dict[str, str]:
    # XDG_CONFIG_DIRS points at etc-xdg.
    write_file(sandbox.home / "etc-xdg/pip/pip.conf", f"[global]\nfind-links = {indexes.evil_dir}\n")
    return {}


def _leak_pip_config_file(sandbox: Sandbox, indexes: Indexes) -> dict[str, str]:
    conf = write_file(sandbox.home / "elsewhere.conf",
                      f"[global]\nextra-index-url = {indexes.upstream.url}\n")
    return {"PIP_CONFIG_FILE": str(conf)}


def _leak_site_pip_conf(sandbox: Sandbox, indexes: Indexes) -> dict[str, str]:
    # A venv of the test's own, with a pip.conf inside it (pip's "site" layer).
    import subprocess
    import sys

    venv = sandbox.home / "site-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip",
                    "--system-site-packages", str(venv)], check=True)
    write_file(venv / "pip.conf", f"[global]\nextra-index-url = {indexes.upstream.url}\n")
    return {"VIRTUAL_ENV": str(venv), "__PIP__": f"{venv}/bin/python -m pip"}


def _leak_env_extra_index(sandbox: Sandbox, indexes: Indexes) -> dict[str, str]:
    return {"PIP_EXTRA_INDEX_URL": indexes.upstream.url}


def _leak_env_find_links(sandbox: Sandbox, indexes: Indexes) -> dict[str, str]:
    return {"PIP_FIND_LINKS": str(indexes.evil_dir)}


LEAKS = {
    "user pip.conf extra-index-url": _leak_user_pip_conf,
    "legacy ~/.pip/pip.conf [install]": _leak_legacy_user_pip_conf,
    "global pip.conf find-links": _leak_global_pip_conf,
    "PIP_CONFIG_FILE": _leak_pip_config_file,
    "site (venv) pip.conf": _leak_site_pip_conf,
    "exported PIP_EXTRA_INDEX_URL": _leak_env_extra_index,
    "exported PIP_FIND_LINKS": _leak_env_find_links,
}


@pytest.mark.parametrize("leak", LEAKS)
def test_leaks_win_without_pipwrap_and_lose_with_wrap(
    sandbox: Sandbox, indexes: Indexes, leak: str
) -> None:
    extra = LEAKS[leak](sandbox, indexes)
    pip = extra.pop("__PIP__", "pip")
    bare, wrapped = _target(sandbox, "bare"), _target(sandbox, "wrapped")
    # Without pipwrap: the seed's one-variable wrapper, as people write it today.
    script = (
        f"PIP_INDEX_URL={indexes.local.url} PIP_TARGET={bare} {pip} install foo\n"
        f"PIP_TARGET={wrapped} wrap {pip} install foo\n"
    )
    done = sandbox.sh("bash", script, **extra)
    assert_leak_wins_bare_and_loses_wrapped(done, bare, wrapped)


@pytest.mark.parametrize("shell", ("zsh", "fish"))
def test_leaks_lose_in_other_shells(sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    _leak_user_pip_conf(sandbox, indexes)
    target = _target(sandbox)
    done = sandbox.sh(shell, f"PIP_TARGET={target} wrap pip install foo",
                      PIP_FIND_LINKS=str(indexes.evil_dir))
    assert done.returncode == 0, done.stderr
    assert installed(target) == LOCAL


def test_uv_pip_is_kept_to_the_profile(sandbox: Sandbox, indexes: Indexes, venv: Path) -> None:
    write_file(sandbox.home / ".config/uv/uv.toml", f'[[index]]\nurl = "{indexes.upstream.url}"\n')
    bare, wrapped = _target(sandbox, "bare"), _target(sandbox, "wrapped")
    python = venv / "bin/python"
    leak = {"UV_EXTRA_INDEX_URL": indexes.upstream.url, "UV_FIND_LINKS": str(indexes.evil_dir)}
    script = (
        f"UV_DEFAULT_INDEX={indexes.local.url} uv pip install -q --python {python} "
        f"--target {bare} foo\n"
        f"wrap uv pip install -q --python {python} --target {wrapped} foo\n"
    )
    done = sandbox.sh("bash", script, **leak)
    assert_leak_wins_bare_and_loses_wrapped(done, bare, wrapped)


def test_pipwrap_run_installs_from_the_profile(sandbox: Sandbox, indexes: Indexes) -> None:
    import subprocess
    import sys

    _leak_user_pip_conf(sandbox, indexes)
    target = _target(sandbox)
    env = {**sandbox.env, "PIP_TARGET": str(target), "PIP_FIND_LINKS": str(indexes.evil_dir)}
    done = subprocess.run([sys.executable, "-m", "pipwrap", "run", "--", "pip", "install", "foo"],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert installed(target) == LOCAL
