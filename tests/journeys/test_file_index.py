"""A `file://` profile: the person's repository tree used as an index straight from the
disk (README: "the same tree works as a file:// index"), with pip and uv. A pip.conf
that adds the stand-in PyPI stages the attack: bare pip takes foo 9.9.9.

Written for issue 21 item 3 (`fence: the agent refused the session: [Errno 9] Bad
file descriptor`, exit 2, for any wrapped command).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.journeys.conftest import Stock
from tests.support import journey
from tests.support.sandbox import installed
from tests.support.servers import PyPIServer


def script(shell: str, repo: Path) -> str:
    status = journey.status_of(shell)
    return f"""
echo '== the person adds a file:// profile'
pipwrap add files file://{repo}/
echo '== without wrap: pip.conf adds PyPI, the attacker wins'
pip download -q --no-deps -d ~/bare --index-url file://{repo}/ foo
echo '== wrap pip download'
wrap pip download --no-deps -d ~/dl foo
echo "status={status}"
echo '== wrap pip install'
wrap pip install --target ~/with-pip foo
echo "status={status}"
echo '== wrap uv pip install'
wrap uv pip install --target ~/with-uv foo
echo "status={status}"
"""


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_a_file_profile_installs_from_the_tree(shell: str, stock: Stock, pypi: PyPIServer,
                                               env: dict[str, str], home: Path) -> None:
    repo = shutil.copytree(stock.repo, home / "repo")
    pip_conf = home / ".config/pip/pip.conf"
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text(f"[global]\nextra-index-url = {pypi.url}\n")
    seen = journey.run(shell, script(shell, repo), env, timeout=60)
    out = seen.output
    assert sorted(p.name for p in (home / "bare").glob("*")) == \
        ["foo-9.9.9-py3-none-any.whl"], f"the staged attack did not work:\n{out}"
    assert "now the default" in seen.after("== the person adds a file:// profile"), out
    for step in ("== wrap pip download", "== wrap pip install", "== wrap uv pip install"):
        assert seen.after(step).rstrip().endswith("status=0"), f"{step}:\n{out}"
    assert sorted(p.name for p in (home / "dl").glob("*")) == \
        ["foo-1.0-py3-none-any.whl"], out
    for target in ("with-pip", "with-uv"):
        assert installed(home / target, "foo") == ("local", "1.0"), f"{target}:\n{out}"
    assert "Traceback" not in out, out
