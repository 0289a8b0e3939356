"""What the fence says when a server refuses the login it added (pure: no network)."""

from __future__ import annotations

from pipwrap.fence.policy import Decision, Policy
from pipwrap.fence.session import Session, is_login_refused, login_refused
from pipwrap.profiles.environment import login_source
from pipwrap.profiles.model import Profile

URL = "https://pkgs.example/simple/"
SECRET = "hunter2-S3cret"


def profile(**keys: object) -> Profile:
    return Profile("corp", keys.pop("index_url", URL), URL, **keys)  # type: ignore[arg-type]


def test_the_source_of_a_login_is_named_never_the_secret() -> None:
    assert login_source(profile()) is None
    assert login_source(profile(username="alice", password_env="CORP_PW")) == (
        "user 'alice' with the password from the variable CORP_PW")
    command = login_source(profile(username="alice",
                                   password_command=f"/opt/vault/bin/get-token --pw {SECRET}"))
    assert command == "user 'alice' with the password printed by its password-command get-token"
    assert "keyring" in str(login_source(profile(username="alice", keyring=True)))
    assert login_source(profile(index_url=f"https://bob:{SECRET}@pkgs.example/simple/")) == (
        "the login in its index-url")


def test_a_refused_login_names_the_profile_and_the_source() -> None:
    session = Session("t", Policy(URL), ("alice", SECRET), profile="corp",
                      login_source="user 'alice' with the password from the variable CORP_PW")
    reason, message = login_refused(session, "GET", f"https://alice:{SECRET}@pkgs.example/"
                                    "simple/foo/", 401)
    assert reason == "Login refused for pipwrap profile corp"
    assert message.startswith("pipwrap fence: GET https://pkgs.example:443/simple/foo/: the "
                              "server refused the login of profile 'corp' (HTTP 401); that "
                              "login is user 'alice' with the password from the variable CORP_PW")
    assert SECRET not in reason + message
    assert "access with the login" in login_refused(session, "GET", URL, 403)[1]
    session.login = None
    reason, message = login_refused(session, "GET", URL, 401)
    assert reason == "Login needed for pipwrap profile corp"
    assert "profile 'corp' has no login" in message


def test_which_answers_count_as_a_refused_login() -> None:
    with_login = Session("t", Policy(URL), ("alice", SECRET))
    without = Session("t", Policy(URL))
    index, elsewhere = Decision(True, add_login=True), Decision(True)
    assert is_login_refused(with_login, index, 401) and is_login_refused(with_login, index, 403)
    assert is_login_refused(without, index, 401)
    assert not is_login_refused(without, index, 403)  # the server's own answer, passed on
    assert not is_login_refused(with_login, elsewhere, 401)  # no login was added there
    assert not is_login_refused(with_login, index, 404)


def test_a_403_with_the_login_does_not_claim_the_password_is_wrong() -> None:
    """A 403 is also a server's "this login may not do this" (serve's read-only login, an
    upload to a project the login does not own): the message says both, not only "fix
    the password"."""
    session = Session("t", Policy(URL), ("bob", SECRET), profile="corp",
                      login_source="user 'bob' with the password from the variable CORP_PW")
    reason, message = login_refused(session, "POST", URL, 403)
    assert reason == "Access refused for pipwrap profile corp"
    assert "fix the password" not in message
    assert message.endswith("(HTTP 403); that login is user 'bob' with the password from the "
                            "variable CORP_PW. Either that password is wrong (fix it where it "
                            "comes from) or this login may not do this here (a read-only "
                            "login, an upload to a project it does not own): ask the server's "
                            "operator"), message

