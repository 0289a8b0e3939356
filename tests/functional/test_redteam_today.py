"""Red-team findings against what landed on 2026-12-06 (issue 22's fast path under isolation,
issue 24's several sources, issue 23's serve). Each test stages the attack through `wrap`
and asserts the safe outcome: a strict xfail is an attack that still succeeds; the lead
removes the mark with the fix.

Staged as tests/functional/test_sources.py does: an upstream serving PEP 691 JSON with
upload times holds an evil Foo 9.9.9.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.functional.test_sources import evil_upstream
from tests.support import static_index
from tests.support.sandbox import Sandbox, installed
from tests.support.wheels import make_wheel


@dataclass
class Staged:
    upstream: str
    local_first: str   # a local-first index (303 for names it lacks, as pypiserver does)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staged]:
    base = tmp_path_factory.mktemp("redteam-today")
    first = static_index.tree(base / "first", [make_wheel(base / "w1", "bar-baz", "1.0",
                                                          "local")])
    with evil_upstream(base) as upstream, \
            static_index.serve(first, fallback=upstream) as local_first:
        yield Staged(upstream, local_first.url)


def test_a_reserved_name_is_not_taken_through_the_first_sources_redirect(
        sandbox: Sandbox, staged: Staged) -> None:
    """The first source is local-first (pypiserver --fallback-url, `pipwrap serve
    --fallback`, the built-in `local` profile): for a name it does not hold it answers 303
    to the public index. `reserved` promises such a name is never taken from a fallback."""
    done = _install_reserved_foo(sandbox, staged.local_first, staged.upstream)
    assert "'foo' is reserved" in done.stderr, done.stderr


def _install_reserved_foo(sandbox: Sandbox, index: str, upstream: str,
                          ) -> subprocess.CompletedProcess[str]:
    """`wrap pip install foo` under a profile reserving foo; asserts nothing came in."""
    sandbox.write_config(
        'default = "corp"\n[profiles.corp]\n'
        f'index-url = "{index}"\nfallback = ["{upstream}"]\nreserved = ["foo"]\n')
    target = sandbox.home / "t"
    done: subprocess.CompletedProcess[str] = sandbox.sh(
        "bash", f"wrap pip install --no-cache-dir --target {target} foo; echo status=$?")
    assert installed(target) is None, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.support import s3

    with s3.moto_server(tmp_path_factory.mktemp("moto")) as running:
        yield running


def test_a_removed_projects_held_name_stays_held_in_a_pushed_bucket(
        sandbox: Sandbox, staged: Staged, moto: object, tmp_path: Path) -> None:
    """`pipwrap repo remove foo` keeps the name held (serve and nginx answer an empty page,
    never the fallback's). The same tree pushed to a bucket used as the first source: the
    push deletes foo's page, S3 answers 404, and `wrap` takes the fallback's Foo 9.9.9."""
    import sys

    from tests.support import s3, shells

    server: s3.S3Server = moto  # type: ignore[assignment]
    env = s3.s3_env(shells.isolated_env(tmp_path / "pusher"))
    repo = tmp_path / "repo"

    def pipwrap(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "pipwrap", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr

    pipwrap("repo", "add", "--repo", str(repo),
            str(make_wheel(tmp_path / "own", "Foo", "1.0", "local")))
    bucket = server.bucket("held-names")
    push = ("repo", "push", "--repo", str(repo), f"s3://{bucket}/simple",
            "--endpoint-url", server.endpoint)
    pipwrap(*push)
    pipwrap("repo", "remove", "--repo", str(repo), "foo")  # the name stays held
    pipwrap(*push)
    sandbox.write_config(
        'default = "team"\n[profiles.team]\n'
        f'index-url = "{server.endpoint}/{bucket}/simple/"\n'
        f'fallback = ["{staged.upstream}"]\n')
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f"wrap pip install --no-cache-dir --target {target} foo; "
                              "echo status=$?")
    assert installed(target) is None, done.stdout + done.stderr


def test_an_upload_token_cannot_change_what_a_pin_installs(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """docs/hosting-team.md: "a stolen upload token can add a version, never change what a
    pin installs". Foo 1.0 is published as an sdist (a pure project's usual first upload);
    the token uploads an evil `foo-1.0-py3-none-any.whl`, which serve took ("a wheel may
    join a release that has only an sdist"), and `wrap pip install foo==1.0` now installs
    the evil wheel instead of building the sdist. Now refused: wheels go before the sdist."""
    from tests.support import hosting
    from tests.support.publishing import client_env
    from tests.support.uploads import sha_entry, twine, upload_sdist

    env = client_env(tmp_path)
    logins = tmp_path / "htpasswd"
    logins.write_text(f"ci:{sha_entry('ci-pw')}\n")
    sdist = upload_sdist(tmp_path / "dist", "Foo", "1.0")
    evil = make_wheel(tmp_path / "evil", "Foo", "1.0", "evil")
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--no-fallback",
                               "--htpasswd", str(logins), "--auth", "upload",
                               env=env) as served:
        for file in (sdist, evil):
            twine(env, f"{served.base}/", file, user="ci", password="ci-pw")
        sandbox.write_config(f'default = "team"\n[profiles.team]\nindex-url = "{served.url}"\n')
        target = sandbox.home / "t"
        done = sandbox.sh("bash", f"wrap pip install --no-cache-dir --target {target} "
                                  "foo==1.0; echo status=$?")
    assert installed(target) != ("evil", "1.0"), done.stdout + done.stderr


CACHE = ("--cache",)


def test_a_reserved_name_is_not_taken_through_a_caching_first_source(
        sandbox: Sandbox, staged: Staged, tmp_path: Path) -> None:
    """The team's index is `pipwrap serve --cache` in front of the public index (clients
    never contact it). `reserved = ["foo"]` promises foo is never taken from there; the
    cache fetches the upstream's page and files itself and answers 200, so the fence
    counted it as the first source's own project and the evil 9.9.9 came in. The cache
    now marks the page (X-Pipwrap-Origin: upstream) and the fence refuses the name."""
    from tests.support import hosting
    from tests.support.publishing import client_env

    env = client_env(tmp_path)
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", *CACHE,
                               "--fallback", staged.upstream, env=env) as served:
        done = _install_reserved_foo(sandbox, served.url, staged.upstream)
        told = sandbox.sh("bash", "pipwrap explain foo; echo status=$?")
    refusal = [line for line in done.stderr.splitlines() if "'foo' is reserved" in line]
    assert len(refusal) == 1 and "pattern 'foo'" in refusal[0] and \
        "X-Pipwrap-Origin: upstream" in refusal[0], done.stderr
    assert "'foo' is reserved (pattern 'foo')" in told.stdout, told.stdout + told.stderr
    assert "own upstream" in told.stdout and "status=1" in told.stdout, told.stdout


def test_a_reserved_name_is_not_taken_through_nginx_confs_fallback(
        sandbox: Sandbox, staged: Staged, tmp_path: Path) -> None:
    """The same first source as nginx, from `pipwrap repo nginx-conf --standalone
    --fallback`: its redirect to the fallback is marked as serve --cache's pages are, a
    page held in the tree never is, and `wrap` refuses the reserved name."""
    import sys
    import urllib.error
    import urllib.request

    from tests.support import hosting
    from tests.support.publishing import client_env

    env = client_env(tmp_path)
    repo = tmp_path / "repo"
    subprocess.run([sys.executable, "-m", "pipwrap", "repo", "add", "--repo", str(repo),
                    str(make_wheel(tmp_path / "own", "bar-baz", "1.0", "local"))],
                   env=env, check=True, capture_output=True, timeout=120)

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    def mark(url: str) -> tuple[int, str | None]:
        try:
            with urllib.request.build_opener(Stay).open(url, timeout=30) as answer:
                return answer.status, answer.headers.get("X-Pipwrap-Origin")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("X-Pipwrap-Origin")

    with hosting.nginx(repo, tmp_path / "nginx", staged.upstream) as index:
        assert mark(f"{index}foo/") == (303, "upstream")
        assert mark(f"{index}bar-baz/") == (200, None)
        done = _install_reserved_foo(sandbox, index, staged.upstream)
    assert "'foo' is reserved (pattern 'foo')" in done.stderr, done.stderr


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_a_held_reserved_name_still_installs_through_a_caching_first_source(
        sandbox: Sandbox, staged: Staged, venv: Path, tmp_path: Path, installer: str) -> None:
    """The mark costs the team nothing: a reserved name the tree holds is served from the
    tree (unmarked) and installs; a name that is not reserved still comes through the
    cache from the upstream, as before."""
    import sys

    from tests.support import hosting
    from tests.support.publishing import client_env

    env = client_env(tmp_path)
    repo = tmp_path / "repo"
    subprocess.run([sys.executable, "-m", "pipwrap", "repo", "add", "--repo", str(repo),
                    str(make_wheel(tmp_path / "own", "Foo", "1.0", "local"))],
                   env=env, check=True, capture_output=True, timeout=120)
    target = sandbox.home / "t"
    command = (f"wrap pip install --no-cache-dir --target {target} foo bar-baz"
               if installer == "pip" else
               f"wrap uv pip install --no-cache --python {venv}/bin/python --target {target} "
               "foo bar-baz")
    with hosting.pipwrap_serve(repo, tmp_path / "log", *CACHE, "--fallback", staged.upstream,
                               env=env) as served:
        sandbox.write_config(
            'default = "corp"\n[profiles.corp]\n'
            f'index-url = "{served.url}"\nfallback = ["{staged.upstream}"]\n'
            'reserved = ["foo"]\n')
        done = sandbox.sh("bash", f"{command}; echo status=$?")
    assert installed(target) == ("local", "1.0"), done.stdout + done.stderr
    assert installed(target, "bar_baz") == ("upstream", "1.9"), done.stdout + done.stderr
    assert "status=0" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(("final", "refused"), [
    ("http://team.example/repo/remote/simple/foo/", True),   # another repository, same host
    ("http://pypi.example/simple/foo/", True),                # the fallback
    ("http://team.example/repo/local/simple/foo/", False),    # its own page (a 301 to it)
])
def test_a_reserved_names_page_counts_only_from_under_the_first_sources_url(
        final: str, refused: bool) -> None:
    """The decision alone: a first source's redirect for a reserved name that leaves its
    URL (Artifactory or Nexus send a local repository's miss to a remote one on the same
    host) is not its own answer."""
    import time

    from pipwrap.fence import sources

    rules = sources.Rules(("http://team.example/repo/local/simple/",
                           "http://pypi.example/simple/"), reserved=("foo",))
    page = b'<a href="foo-9.9.9-py3-none-any.whl">foo-9.9.9-py3-none-any.whl</a>'
    outcome = sources.compose(
        "foo", rules, lambda number, url, same_origin_only=False: sources.Fetched(
            final, 200, "text/html", page),
        time.time())
    assert (outcome.status == sources.REFUSED) is refused, outcome
    assert bool(outcome.files) is not refused


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_wrap_command_uv_still_runs_in_the_namespace(
        sandbox: Sandbox, indexes: object, venv: Path, shell: str) -> None:
    """docs/security.md: a uv shim first on PATH that adds the upstream and drops its proxy
    is unreachable under isolation. `command uv` is how people skip a function or alias
    named uv; through `wrap` it runs in the shell, outside the fence's namespace, with the
    variables that work outside, and nothing says so."""
    from pipwrap.fence import netns
    from tests.functional.test_shell_fastpath_fenced import AROUND, _shim

    if not netns.availability().available:
        pytest.skip("no network isolation here")
    path = _shim(sandbox, indexes, AROUND["unset"])  # type: ignore[arg-type]
    target = sandbox.home / "t"
    done = sandbox.sh(shell, f"cd ~\nwrap command uv pip install -q --python "
                             f"{venv}/bin/python --target {target} foo\n", PATH=path,
                    UV_HTTP_RETRIES="0")  # a fenced uv would retry the upstream with back-off
    assert installed(target) != ("evil", "9.9.9"), done.stdout + done.stderr


def test_a_session_from_pipwrap_env_follows_a_config_change(
        sandbox: Sandbox, staged: Staged) -> None:
    """`eval "$(pipwrap env --reveal)"`, then the team adds `reserved = ["foo"]` (after
    hearing of the squatted name): that shell's pip still gets the fallback's Foo 9.9.9,
    and nothing says the session is older than the config."""
    sandbox.write_config(
        'default = "corp"\n[profiles.corp]\n'
        f'index-url = "{staged.local_first}"\nfallback = ["{staged.upstream}"]\n')
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f'eval "$(pipwrap env --reveal)"\n'
                              f"printf 'reserved = [\"foo\"]\\n' >> {sandbox.config}\n"
                              f"pip install --no-cache-dir --target {target} foo\n", how="plain")
    assert installed(target) is None, done.stdout + done.stderr


# The fix refuses such a session once its config changes, until `pipwrap env` runs again
# (docs/reference.md, `pipwrap env`): then the current rules apply, tighter or looser.
REFUSED = "run pipwrap env again"


def _env_config(staged: Staged, *, reserved: bool, name: str = "corp") -> str:
    return (f'default = "{name}"\n[profiles.{name}]\nindex-url = "{staged.local_first}"\n'
            f'fallback = ["{staged.upstream}"]\n' + ('reserved = ["foo"]\n' if reserved else ""))


def _pip_install_line(target: Path, project: str = "foo") -> str:
    # pip says why it could not fetch an index page only in its debug log (-vv): the
    # status line, which holds the fix. The 403's body says more (see _page_line).
    return (f"pip install -vv --no-cache-dir --target {target} {project} >{target}.log 2>&1; "
            f"echo {target.name}=$?; grep -i 'could not fetch\\|error' {target}.log\n")


def _page_line(project: str = "foo") -> str:
    """What a person asks when pip says no more: the index page, through the session."""
    return f'curl -sS "${{PIP_INDEX_URL}}{project}/"; echo\n'


def _bash_plain(sandbox: Sandbox, script: str) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = sandbox.sh("bash", script, how="plain")
    return done


def test_a_loosened_config_refuses_the_session_until_pipwrap_env_runs_again(
        sandbox: Sandbox, staged: Staged) -> None:
    """`reserved = ["foo"]` is dropped after the eval: the old session does not guess, it
    refuses (naming the file and the fix); `pipwrap env` again, and foo comes from the
    fallback, as the config now says."""
    sandbox.write_config(_env_config(staged, reserved=True))
    home = sandbox.home
    done = _bash_plain(sandbox, "".join([
        'eval "$(pipwrap env --reveal)"\n',
        _pip_install_line(home / "reserved"),
        f"cat >{sandbox.config} <<'EOF'\n{_env_config(staged, reserved=False)}EOF\n",
        _pip_install_line(home / "stale"),
        _page_line(),
        'eval "$(pipwrap env --reveal)"\n',
        _pip_install_line(home / "fresh"),
    ]))
    out = done.stdout + done.stderr
    assert installed(home / "reserved") is None, out
    assert installed(home / "stale") is None, out
    assert "stale=1" in out, out
    assert REFUSED in out, out
    assert f"{sandbox.config} changed since `pipwrap env` made this session for profile " \
           "'corp'" in out, out
    assert installed(home / "fresh") == ("evil", "9.9.9"), out


@pytest.mark.parametrize(("change", "said"), [("rename", "changed"), ("remove", "was removed")])
def test_a_profile_renamed_or_removed_fails_the_session_closed(
        sandbox: Sandbox, staged: Staged, change: str, said: str) -> None:
    """The profile the session was made for is renamed, or the config file removed: the
    session refuses, naming the file, and `pipwrap env` again says what is missing (nothing
    evaluable)."""
    sandbox.write_config(_env_config(staged, reserved=True))
    home = sandbox.home
    renamed = _env_config(staged, reserved=True, name="team")
    done = _bash_plain(sandbox, "".join([
        'eval "$(pipwrap env --reveal --profile corp)"\n',
        f"cat >{sandbox.config} <<'EOF'\n{renamed}EOF\n" if change == "rename"
        else f"rm {sandbox.config}\n",
        _pip_install_line(home / "gone", "bar-baz"),
        _page_line("bar-baz"),
        "pipwrap env --reveal --profile corp; echo again=$?\n",
    ]))
    out = done.stdout + done.stderr
    assert installed(home / "gone", "bar_baz") is None, out
    assert "gone=1" in out and REFUSED in out, out
    assert f"{sandbox.config} {said} since `pipwrap env` made this session" in out, out
    assert "again=2" in out and ("'corp'" if change == "rename" else "no config file") \
        in done.stderr, out
    assert "Traceback" not in out, out


def test_an_unchanged_config_keeps_the_session_and_pipwrap_env_renews_it(
        sandbox: Sandbox, staged: Staged) -> None:
    """No change: the session serves every request. A write that changes nothing the
    session holds (the file's time) refuses it too; `pipwrap env` again gives the same
    session back (the same proxy URL) and it serves again. The config is named relative
    to the directory `pipwrap env` ran in (the agent looks at it from elsewhere)."""
    sandbox.write_config(_env_config(staged, reserved=True))
    home = sandbox.home
    done = _bash_plain(sandbox, "".join([
        f"cd {sandbox.config.parent}\nexport PIPWRAP_CONFIG={sandbox.config.name}\n",
        'eval "$(pipwrap env --reveal)"\nfirst=$HTTPS_PROXY\n',
        _pip_install_line(home / "one", "bar-baz"),
        _pip_install_line(home / "two", "bar-baz"),
        f"touch -d '+1 minute' {sandbox.config}\n",
        _pip_install_line(home / "touched", "bar-baz"),
        'eval "$(pipwrap env --reveal)"\n',
        '[ "$first" = "$HTTPS_PROXY" ] && echo same-session\n',
        _pip_install_line(home / "renewed", "bar-baz"),
    ]))
    out = done.stdout + done.stderr
    for name in ("one", "two", "renewed"):
        assert installed(home / name, "bar_baz") == ("local", "1.0"), f"{name}\n{out}"
    assert installed(home / "touched", "bar_baz") is None, out
    assert REFUSED in out and "same-session" in out, out


@pytest.fixture(scope="module")
def tls_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An https index signed by a test CA: (its URL, the CA's PEM file)."""
    root = tmp_path_factory.mktemp("env-session-tls")
    ca = static_index.make_ca(root / "ca")
    tree = static_index.tree(root / "tree", [make_wheel(root / "w", "Foo", "1.0", "local")])
    with static_index.serve(tree, context=ca.server_context(root / "leaf")) as server:
        yield server.url, ca.cert


def test_over_https_pip_says_why_the_session_refuses(sandbox: Sandbox,
                                                      tls_index: tuple[str, Path]) -> None:
    """An https index: the fence refuses the tunnel itself, and pip's own warning (no -v)
    shows the status line that says what to do."""
    url, ca = tls_index
    sandbox.write_config(f'default = "tls"\n[profiles.tls]\nindex-url = "{url}"\n'
                         f'ca-file = "{ca}"\n')
    home = sandbox.home
    # --retries 1: one warning and no back-off wait (pip's default is 5 tries).
    pip = "pip install --retries 1 --no-cache-dir --target"
    done = _bash_plain(sandbox, "".join([
        'eval "$(pipwrap env --reveal)"\n' f"{pip} {home / 'before'} foo; echo before=$?\n" f"""printf 'reserved = ["foo"]\\n' >>{sandbox.config}\n""" f"{pip} {home / 'after'} foo; echo after=$?\n",
    ]))
    out = done.stdout + done.stderr
    assert installed(home / "before") == ("local", "1.0"), out
    assert installed(home / "after") is None and "after=1" in out, out
    assert "Tunnel connection failed: 403 Config changed since pipwrap env: run pipwrap env " \
           "again" in done.stderr, out
