"""A fenced request is explained every time, where the person looks: the first `wrap` of
the shell sends its stderr to a file, then a program under `wrap` asks for a URL the
profile does not allow, twice. Each of those commands shows the fence's refusal on its
own stderr; the first command's file gets none of it.

Written for issue 21 item 4 (the refusal is printed once per shell, into the
descriptor of the command that opened the session).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import journey
from tests.support.servers import PyPIServer

FETCH = """\
import sys
import urllib.error
import urllib.request

try:
    urllib.request.urlopen(sys.argv[1], timeout=30)
    print("fetched")
except urllib.error.HTTPError as error:
    print("answered", error.code)
"""


def script(shell: str, url: str) -> str:
    status = journey.status_of(shell)
    return f"""
echo '== first call, stderr to a file'
wrap pip --version 2>~/first.err >/dev/null
echo '== a request the profile does not allow'
wrap python3 ~/fetch.py {url}
echo "status={status}"
echo '== the same again'
wrap python3 ~/fetch.py {url}
echo "status={status}"
echo '== the first file'
cat ~/first.err
"""


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_each_fenced_command_shows_its_refusal(shell: str, env: dict[str, str], home: Path,
                                               own_index: str, pypi: PyPIServer) -> None:
    config = Path(env["XDG_CONFIG_HOME"], "pipwrap/config.toml")
    config.parent.mkdir(parents=True)
    config.write_text(f'default = "own"\n\n[profiles.own]\nindex-url = "{own_index}"\n')
    (home / "fetch.py").write_text(FETCH)
    seen = journey.run(shell, script(shell, f"{pypi.url}foo/"), env, timeout=45)
    out = seen.output
    for step in ("== a request the profile does not allow", "== the same again"):
        said = seen.after(step)
        assert "answered 403" in said, f"{step}: the request was not fenced\n{out}"
        assert "pipwrap fence: refused GET" in said, f"{step}: no word of the fence\n{out}"
    assert "refused" not in seen.after("== the first file"), \
        f"a later command's refusal went to the first command's stderr file:\n{out}"
