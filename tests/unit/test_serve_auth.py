"""serve's htpasswd logins, in-process: the formats, the refusals at start-up, reloads."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

from pipwrap.errors import PipwrapError
from pipwrap.repo import auth
from tests.support.uploads import apr1_entry, sha_entry


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_apr1_matches_openssl() -> None:
    for password in ("secret", "", "p@ss wörd", "x" * 40):
        entry = apr1_entry(password)
        assert auth.check_entry(entry, password)
        assert not auth.check_entry(entry, password + "x")
    assert auth.apr1(b"secret", b"abcdefgh") == b"$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/"


def test_logins_check_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"# team\nalice:{sha_entry('a-pw')}\n\nci:{apr1_entry('c:pw')}\n")
    logins = auth.Logins(str(path))
    assert logins.check(basic("alice", "a-pw")) == "alice"
    assert logins.check(basic("ci", "c:pw")) == "ci"  # a colon inside the password
    assert logins.check(basic("ci", "c:pw")) == "ci"  # remembered
    for header in (None, "", basic("alice", "nope"), basic("bob", "a-pw"), "Bearer x",
                   "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()):
        assert logins.check(header) is None
    path.write_text(f"bob:{sha_entry('b-pw')}\n")  # alice removed, bob added: no restart
    later = time.time() + 5
    os.utime(path, (later, later))
    assert logins.check(basic("alice", "a-pw")) is None
    assert logins.check(basic("bob", "b-pw")) == "bob"
    # An edit with a line that cannot be read: the rest of the file applies (issue 23: the
    # whole previous file was kept, and a user just removed still logged in).
    path.write_text(f"broken line\ncarol:{sha_entry('c-pw')}\n")
    os.utime(path, (later + 5, later + 5))
    assert logins.check(basic("bob", "b-pw")) is None
    assert logins.check(basic("carol", "c-pw")) == "carol"


@pytest.mark.parametrize(("text", "message"), [
    ("alice:plaintext\n", "plain-text passwords are refused"),
    ("alice\n", "expected USER:HASH"),
    ("# only a comment\n", "no users"),
])
def test_bad_files_are_refused_at_start_up(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(text)
    with pytest.raises(PipwrapError, match=message):
        auth.Logins(str(path))
    with pytest.raises(PipwrapError, match="No such file"):
        auth.Logins(str(tmp_path / "missing"))


def test_a_bcrypt_entry_needs_a_bcrypt_backend(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "htpasswd"
    path.write_text("alice:$2y$05$" + "a" * 53 + "\n")
    monkeypatch.setattr(auth, "_bcrypt_checker", lambda: None)
    with pytest.raises(PipwrapError, match="needs the bcrypt package"):
        auth.Logins(str(path))
    monkeypatch.setattr(auth, "_bcrypt_checker", lambda: lambda pw, hashed: pw == b"right")
    logins = auth.Logins(str(path))
    assert logins.check(basic("alice", "right")) == "alice"
    assert logins.check(basic("alice", "wrong")) is None


def test_a_user_on_two_lines_is_refused_at_start_up_and_revoked_on_reload(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Apache and nginx take a name's first line; serve took its last, so one file gave
    ``__token__`` a different password behind nginx than behind serve. A name given twice
    is now refused at start-up, and on a reload neither of its lines logs in."""
    path = tmp_path / "htpasswd"
    path.write_text(f"__token__:{sha_entry('old')}\nci:{sha_entry('c')}\n"
                    f"__token__:{apr1_entry('new')}\n")
    with pytest.raises(PipwrapError, match=r"line 3: user '__token__' is on line 1 too"):
        auth.Logins(str(path))
    path.write_text(f"__token__:{sha_entry('old')}\nci:{sha_entry('c')}\n")
    logins = auth.Logins(str(path))
    assert logins.check(basic("__token__", "old")) == "__token__"
    path.write_text(f"__token__:{sha_entry('old')}\nci:{sha_entry('c')}\n"
                    f"__token__:{apr1_entry('new')}\n")
    later = time.time() + 5
    os.utime(path, (later, later))
    assert logins.check(basic("__token__", "old")) is None
    assert logins.check(basic("__token__", "new")) is None
    assert logins.check(basic("ci", "c")) == "ci"
    assert "neither line logs in until one is removed" in capsys.readouterr().err


def test_a_cheap_entrys_refusal_costs_the_slowest_entry(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Red-team 3: a {SHA} name beside a slower entry must not answer its 401 sooner than
    an unknown name (checked against the slowest, the decoy); its right password is checked
    against its own hash only."""
    slow = apr1_entry("alice-pw")
    logins_file = tmp_path / "htpasswd"
    logins_file.write_text(f"ci:{sha_entry('ci-token')}\nalice:{slow}\n")
    logins = auth.Logins(str(logins_file))
    checked: list[str] = []
    real = auth.check_entry

    def spy(hashed: str, password: str) -> bool:
        checked.append(hashed)
        return real(hashed, password)

    monkeypatch.setattr(auth, "check_entry", spy)

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    assert logins.check(basic("ci", "wrong")) is None
    assert checked[-1] == slow  # the refusal also paid the slowest entry
    assert logins.check(basic("mallory", "wrong")) is None
    assert checked[-1] == slow
    checked.clear()
    assert logins.check(basic("ci", "ci-token")) == "ci"
    assert slow not in checked
    checked.clear()
    assert logins.check(basic("alice", "wrong")) is None
    assert checked == [slow]  # the slowest entry itself: once, not twice
