"""Which wheels of one release an installer could choose between (the release rule of
`pipwrap serve` uploads, issue 23): a table checked against packaging's own tags."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.tags import sys_tags

from pipwrap.repo.permissions import wheels_meet


def wheel(tags: str) -> str:
    return f"foo-1.0-{tags}.whl"


@pytest.mark.parametrize(("first", "second", "meet"), [
    ("py3-none-any", "py311-none-any", True),  # CPython 3.11 takes both, prefers py311
    ("py3-none-any", "cp311-none-any", True),
    ("py3-none-any", "cp311-cp311-manylinux_2_17_x86_64", True),
    ("py2.py3-none-any", "py3-none-any", True),
    ("py2-none-any", "py3-none-any", False),
    ("py312-none-any", "cp311-cp311-manylinux_2_17_x86_64", False),  # 3.12 and later
    ("cp39-abi3-manylinux_2_17_x86_64", "cp312-cp312-manylinux_2_28_x86_64", True),
    ("cp311-cp311-manylinux_2_17_x86_64", "cp312-cp312-manylinux_2_17_x86_64", False),
    ("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64", True),
    ("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-linux_x86_64", True),
    ("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-musllinux_1_1_x86_64", False),
    ("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux_2_17_aarch64", False),
    ("cp311-cp311-macosx_11_0_arm64", "cp311-cp311-macosx_10_9_universal2", True),
    ("cp311-cp311-macosx_11_0_arm64", "cp311-cp311-macosx_10_9_x86_64", False),
    ("cp311-cp311-win_amd64", "cp311-cp311-win32", False),
    ("cp311-cp311-win_amd64", "cp311-cp311-manylinux_2_17_x86_64", False),
    ("pp310-pypy310_pp73-manylinux_2_17_x86_64", "cp310-cp310-manylinux_2_17_x86_64", False),
])
def test_wheels_meet_where_one_environment_takes_both(first: str, second: str,
                                                      meet: bool) -> None:
    assert wheels_meet(wheel(first), wheel(second)) is meet
    assert wheels_meet(wheel(second), wheel(first)) is meet


def test_two_wheels_this_interpreter_takes_always_meet() -> None:
    """Held against packaging: any two tags this interpreter supports must meet."""
    supported = [f"{t.interpreter}-{t.abi}-{t.platform}" for t in sys_tags()]
    sample = supported[:: max(1, len(supported) // 40)]
    for first in sample:
        for second in sample:
            assert wheels_meet(wheel(first), wheel(second)), (first, second)


def test_only_a_name_neither_held_nor_claimed_asks_the_upstream(tmp_path: Path) -> None:
    """A held directory (files or a tombstone) or an owner given with `repo owner add`
    decides without the upstream (here unreachable: asking it would refuse, 503)."""
    import socket

    from pipwrap.repo.permissions import Policy, Refusal, UpstreamNames

    with socket.socket() as unused:  # a port nothing listens on once closed
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    policy = Policy(upstream=UpstreamNames(f"http://127.0.0.1:{port}/simple", timeout=5))
    (tmp_path / "held").mkdir()
    (tmp_path / ".pipwrap").mkdir()
    (tmp_path / ".pipwrap" / "owners.json").write_text('{"claimed": ["ci"]}\n')
    policy.check_upstream(str(tmp_path), "held", "ci")
    policy.check_upstream(str(tmp_path), "claimed", "ci")
    Policy().check_upstream(str(tmp_path), "new", "ci")  # no fallback: nothing to ask
    with pytest.raises(Refusal) as refused:
        policy.check_upstream(str(tmp_path), "new", None)
    assert refused.value.status == 503
    assert refused.value.message.startswith("cannot tell whether the upstream serves new (")
    assert refused.value.message.endswith("claim the name: pipwrap repo owner add new USER")
