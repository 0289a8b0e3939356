"""The quick start through the built-in `local` profile, with no config at all: the person
hosts their own packages with `pipwrap repo add` + `pipwrap serve` (port 8080, in a network
namespace of the journey's own where the machine allows one) and installs one whose dependency only PyPI has (a
stand-in PyPI on loopback, serve's fallback), with `wrap pip install` and
`wrap uv pip install`. A `pip.conf` naming PyPI as an extra index (the leak of DESIGN.md)
shows the staged attack: bare pip takes the attacker's foo 9.9.9, `wrap` keeps foo 1.0.

Written for issue 21 item 1 (the built-in profile's upload-url is serve's root, so the
fence never learns the fallback's redirect: dep-lib is refused).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.journeys.conftest import Stock
from tests.support import journey
from tests.support.sandbox import installed
from tests.support.servers import free_port


def with_stand_in_pypi(prefix: list[str], stock: Stock, stand_in: str) -> list[str]:
    """The port-8080 prefix, with the stand-in PyPI started behind it first (not typed by
    the person: it is "the internet")."""
    port = stand_in.split(":")[2].split("/")[0]
    server = (f"'{sys.executable}' -m pypiserver run -i 127.0.0.1 -p {port} -a . -P . "
              f"--disable-fallback --server wsgiref '{stock.upstream_dir}' >/dev/null 2>&1 &"
              f" '{sys.executable}' -c \"import time, urllib.request as u\n"
              "for _ in range(200):\n"
              "    try: u.urlopen('" + stand_in + "', timeout=1); break\n"
              "    except OSError: time.sleep(0.05)\"")
    if not prefix:  # this machine's 8080
        return ["sh", "-c", f"{{ {server}; }} && exec \"$@\"", "sh"]
    ip_up = prefix[-2]  # "'ip' link set lo up && exec \"$@\""
    return [*prefix[:-2], ip_up.replace(" && exec", f" && {{ {server}; }} && exec"),
            prefix[-1]]


def script(shell: str, stock: Stock, stand_in: str) -> str:
    status = journey.status_of(shell)
    # fish runs a function put in the background (`pipwrap` is one once the init line
    # ran) in the foreground: a fish user must name the command.
    serve = "command pipwrap serve" if shell == "fish" else "pipwrap serve"
    return f"""
echo '== the person hosts their packages'
pipwrap repo add {stock.own_dir}/*.whl
{serve} --fallback {stand_in} >~/serve.log 2>&1 &
sleep 1
echo '== without wrap: pip.conf adds PyPI, the attacker wins'
pip install -q --target ~/bare --index-url http://127.0.0.1:8080/simple/ hello-app
echo "status={status}"
echo '== wrap pip install'
wrap pip install --target ~/with-pip hello-app
echo "status={status}"
echo '== wrap uv pip install'
wrap uv pip install --target ~/with-uv hello-app
echo "status={status}"
"""


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_the_quick_start_installs_a_package_whose_dependency_is_on_pypi(
        shell: str, stock: Stock, env: dict[str, str], home: Path,
        port_8080: list[str]) -> None:
    stand_in = f"http://127.0.0.1:{free_port()}/simple/"
    pip_conf = home / ".config/pip/pip.conf"
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text(f"[global]\nextra-index-url = {stand_in}\n")
    seen = journey.run(shell, script(shell, stock, stand_in), env, timeout=90,
                       prefix=with_stand_in_pypi(port_8080, stock, stand_in))
    out = seen.output
    assert "Traceback" not in out, out
    # The staged attack: the leak works without pipwrap.
    assert installed(home / "bare", "foo") == ("evil", "9.9.9"), out
    for step, target in (("== wrap pip install", "with-pip"),
                         ("== wrap uv pip install", "with-uv")):
        assert seen.after(step).rstrip().endswith("status=0"), f"{step}:\n{out}"
        assert installed(home / target, "foo") == ("local", "1.0"), f"{step}:\n{out}"
        assert installed(home / target, "dep_lib") == ("upstream", "1.0"), f"{step}:\n{out}"
        assert installed(home / target, "hello_app") == ("local", "1.0"), f"{step}:\n{out}"
    assert "Successfully installed" in seen.after("== wrap pip install"), out
    assert "deprecated" not in out, out  # item 9: every wrapped uv warned of UV_NATIVE_TLS
