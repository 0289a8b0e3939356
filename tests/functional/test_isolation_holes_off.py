"""Issue 22's holes without isolation: the "before" of each test in test_fence_holes.py.

Each staging there runs bare (the evil Foo 9.9.9 wins) and under `wrap` (it must not).
The guard lets every one of them through: only the fence's network namespace holds them.
Run here with the profile's `isolation = "off"`, each must install (or pin) the evil Foo
under `wrap`, so that the tests there can fail, and fail for want of isolation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from tests.functional import test_fence_holes as holes
from tests.functional.test_fence_holes import pip_tools_bin, tox_bin  # noqa: F401 - fixtures
from tests.support.sandbox import Indexes, Sandbox

HOLES: dict[str, Callable[..., object]] = {
    "tox-install-command": holes.test_tox_install_command_with_an_empty_proxy,
    "tox-set-env-dotenv": holes.test_tox_set_env_from_a_dotenv_file,
    "tox-toml-escaped-keys": holes.test_tox_toml_set_env_with_escaped_keys,
    "pip-tools-pip-args": holes.test_pip_tools_pip_args_with_an_empty_proxy,
    "uv-request-method": holes.test_uv_with_request_method_set_drops_the_proxy,
    "python-proxy-handler": holes.test_python_with_an_empty_proxy_handler,
    "curl-noproxy": holes.test_curl_noproxy_then_a_local_install,
    "raw-socket": holes.test_a_raw_socket_reaches_the_upstream,
}


@pytest.mark.parametrize("hole", HOLES)
def test_without_isolation_wrap_installs_the_evil_foo(
        hole: str, sandbox: Sandbox, indexes: Indexes, request: pytest.FixtureRequest) -> None:
    sandbox.write_config(f'default = "local"\n[profiles.local]\nindex-url = '
                         f'"{indexes.local.url}"\nisolation = "off"\n')
    staged = HOLES[hole]
    arguments = {name: request.getfixturevalue(name)
                 for name in inspect.signature(staged).parameters}
    with pytest.raises(holes.FenceBypassed):
        staged(**arguments)
