"""The profile's environment for a whole shell (docs/reference.md: `eval "$(pipwrap env
--reveal)"`, fish: `pipwrap env --reveal --format fish | source`) in a shell that loaded
the init line: plain `pip` then installs from the profile's index through the fence.

Written for issue 21 item 4 (the session's owner is the command substitution's
subshell, which exits at once: every request gets 407).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import journey


def script(shell: str) -> str:
    status = journey.status_of(shell)
    load = ("pipwrap env --reveal --format fish | source" if shell == "fish"
            else 'eval "$(pipwrap env --reveal)"')
    return f"""
echo '== the profile for the whole shell'
{load}
echo "status={status}"
echo '== plain pip'
pip download --no-deps -d ~/dl foo
echo "status={status}"
echo '== again'
pip download --no-deps -d ~/dl-again foo
echo "status={status}"
"""


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_the_profile_for_a_whole_shell(shell: str, env: dict[str, str], home: Path,
                                       own_index: str) -> None:
    config = Path(env["XDG_CONFIG_HOME"], "pipwrap/config.toml")
    config.parent.mkdir(parents=True)
    config.write_text(f'default = "own"\n\n[profiles.own]\nindex-url = "{own_index}"\n')
    seen = journey.run(shell, script(shell), env, timeout=60)
    out = seen.output
    for step in ("== the profile for the whole shell", "== plain pip", "== again"):
        assert seen.after(step).rstrip().endswith("status=0"), f"{step}:\n{out}"
    for directory in ("dl", "dl-again"):
        got = sorted(p.name for p in (home / directory).glob("*"))
        assert got == ["foo-1.0-py3-none-any.whl"], f"{directory}: {got}\n{out}"
