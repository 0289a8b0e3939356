"""The source keys in the profile model: parsed, kept by the snapshot, credentials kept out."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipwrap.profiles import schema, snapshot

TEXT = ('default = "corp"\n[profiles.corp]\nindex-url = "https://first.example/simple/"\n'
        'fallback = ["https://pypi.example/simple/"]\nreserved = ["acme-*", "tool"]\n'
        'cooldown = "P7D"\ncooldown-exempt = ["acme-*"]\n')


def test_the_snapshot_keeps_the_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = schema.parse(TEXT, "c.toml")
    snapshot.store("c.toml", TEXT.encode(), config)
    again = snapshot.lookup("c.toml", TEXT.encode())
    assert again is not None
    profile = again.profiles["corp"]
    assert profile == config.profiles["corp"]
    assert (profile.fallback, profile.reserved, profile.cooldown, profile.cooldown_exempt) == \
        (("https://pypi.example/simple/",), ("acme-*", "tool"), "P7D", ("acme-*",))
    assert profile.has_source_rules


def test_a_password_in_a_fallback_is_masked_and_never_snapshotted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    text = TEXT.replace("https://pypi.example", "https://me:s3cret@pypi.example")
    config = schema.parse(text, "c.toml")
    profile = config.profiles["corp"]
    assert profile.holds_credential
    assert profile.shown_fallback == ("https://me:****@pypi.example/simple/",)
    assert "s3cret" not in repr(profile)
    snapshot.store("c.toml", text.encode(), config)
    assert snapshot.lookup("c.toml", text.encode()) is None


def test_a_profile_without_the_keys_has_no_rules() -> None:
    config = schema.parse('[profiles.a]\nindex-url = "https://x.example/simple/"\n', "c.toml")
    assert not config.profiles["a"].has_source_rules

