"""The journeys run with network isolation in force (issue 22: "the journeys suite passes
with isolation on").

No journey sets `isolation`, so each runs with the default "auto", which falls back to
the proxy alone (after one line on stderr) where no namespace can be made: the other
journeys would pass either way. This one, in the same person's set-up and started both
ways the journeys start their shells (as they are, and in a network namespace of their
own for port 8080), fails when isolation is not in force: doctor must report it on, and a
wrapped raw socket must not reach a listener that the same socket reaches bare.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import journey

LISTEN = """import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(8)
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write(str(server.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    server.accept()[0].close()
"""

RAW = """import socket, sys
port = int(open(sys.argv[1]).read())
try:
    socket.create_connection(("127.0.0.1", port), timeout=10).close()
    print("raw socket: reached")
except OSError as exc:
    print("raw socket: unreachable", exc)
"""

STEPS = """
echo '== doctor'
pipwrap doctor | grep '^isolation:'
echo '== a listener outside'
python ~/listen.py ~/port &
for _ in $(seq 100); do [ -e ~/port ] && break; sleep 0.1; done
echo '== bare'
python ~/raw.py ~/port
echo '== wrapped'
wrap python ~/raw.py ~/port
echo '== the end'
"""


@pytest.mark.parametrize("where", ["as-journeys-run", "own-network-namespace"])
def test_the_journeys_run_with_isolation_in_force(
        where: str, env: dict[str, str], home: Path, own_index: str,
        request: pytest.FixtureRequest) -> None:
    prefix: list[str] = request.getfixturevalue("port_8080") \
        if where == "own-network-namespace" else []
    if where == "own-network-namespace" and not prefix:
        pytest.skip("no network namespace of its own here: the journeys use this machine's")
    config = Path(env["XDG_CONFIG_HOME"], "pipwrap/config.toml")
    config.parent.mkdir(parents=True)
    config.write_text(f'default = "own"\n\n[profiles.own]\nindex-url = "{own_index}"\n')
    (home / "listen.py").write_text(LISTEN)
    (home / "raw.py").write_text(RAW)
    seen = journey.run("bash", STEPS, env, timeout=60, prefix=prefix)
    out = seen.output
    assert "== the end" in out, out
    assert "isolation: auto: on, each wrapped program runs in a network namespace" in \
        seen.after("== doctor"), out
    assert seen.after("== bare").strip() == "raw socket: reached", out  # the control
    assert seen.after("== wrapped").startswith("raw socket: unreachable"), out
    assert "without network isolation" not in out, out
