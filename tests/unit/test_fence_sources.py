"""The fence's per-project source decision (fence/sources.py) and the words of its rules
(sourcerules.py), without servers: each source's answer is given."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pipwrap import pagerender
from pipwrap.fence import sources
from pipwrap.fence.policy import SERVE_HINT, Policy
from pipwrap.indexpage import parse
from pipwrap.sourcerules import (
    duration_seconds,
    iso_duration,
    matches,
    normalize_name,
    pattern_problem,
)

FIRST = "https://first.example/simple/"
PYPI = "https://pypi.example/simple/"
NOW = 1_800_000_000.0
DAY = 86400


def _stamp(age: float) -> str:
    import datetime

    moment = datetime.datetime.fromtimestamp(NOW - age, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(*files: tuple[str, float | None]) -> sources.Fetched:
    entries = []
    for name, age in files:
        entry: dict[str, object] = {"filename": name, "url": f"../../files/{name}",
                                    "hashes": {"sha256": "ab" * 32}}
        if age is not None:
            entry["upload-time"] = _stamp(age)
        entries.append(entry)
    body = json.dumps({"meta": {"api-version": "1.1"}, "files": entries}).encode()
    return sources.Fetched("", 200, "application/vnd.pypi.simple.v1+json", body)


def _html(*names: str) -> sources.Fetched:
    links = "".join(f'<a href="../../files/{n}#sha256={"cd" * 32}">{n}</a>' for n in names)
    return sources.Fetched("", 200, "text/html", links.encode())


def _compose(project: str, answers: list[sources.Fetched | int | str],
             **rules: object) -> tuple[sources.Outcome, list[str]]:
    """``asked``: each URL fetched, with " (same origin only)" when compose said so."""
    asked: list[str] = []

    def fetch(number: int, url: str, same_origin_only: bool = False) -> sources.Fetched:
        asked.append(url + (" (same origin only)" if same_origin_only else ""))
        answer = answers[number]
        if isinstance(answer, int):
            return sources.Fetched(url, answer)
        if isinstance(answer, str):
            return sources.Fetched(url, None, error=answer)
        return sources.Fetched(answer.url or url, answer.status, answer.content_type,
                               answer.body, elsewhere=answer.elsewhere,
                               from_upstream=answer.from_upstream)

    given = sources.Rules((FIRST, PYPI), **rules)
    return sources.compose(project, given, fetch, NOW), asked


def test_the_first_source_that_has_the_project_wins_alone() -> None:
    outcome, asked = _compose("Foo", [_html("foo-1.0-py3-none-any.whl"),
                                      _json(("foo-9.9.9-py3-none-any.whl", DAY))])
    assert asked == [FIRST + "foo/"]
    assert (outcome.status, outcome.source) == (200, 0)
    assert [f.filename for f in outcome.files] == ["foo-1.0-py3-none-any.whl"]


@pytest.mark.parametrize("status", [404, 410])
def test_only_not_found_moves_on_and_fallback_urls_resolve_against_the_fallback(
        status: int) -> None:
    outcome, asked = _compose("bar_baz", [status, _json(("bar_baz-1.9-py3-none-any.whl", 0))])
    assert asked == [FIRST + "bar-baz/", PYPI + "bar-baz/"]
    assert outcome.source == 1
    assert outcome.files[0].url == "https://pypi.example/files/bar_baz-1.9-py3-none-any.whl"


@pytest.mark.parametrize("answer", [500, 503, 401, 403, 302, "connection refused"])
def test_any_other_answer_fails_closed_and_never_asks_the_fallback(
        answer: int | str) -> None:
    outcome, asked = _compose("foo", [answer, _json(("foo-9.9.9-py3-none-any.whl", 40 * DAY))])
    assert asked == [FIRST + "foo/"]
    assert outcome.status == sources.FAILED and not outcome.files
    assert "fail closed" in (outcome.refusal or "")


def test_an_unreadable_page_fails_closed() -> None:
    broken = sources.Fetched("", 200, "application/vnd.pypi.simple.v1+json", b"{not json")
    outcome, _ = _compose("foo", [broken, _json(("foo-9.9.9-py3-none-any.whl", DAY))])
    assert outcome.status == sources.FAILED


def test_a_reserved_name_is_never_taken_from_a_fallback() -> None:
    outcome, asked = _compose("Acme_Tool", [404, _json(("acme_tool-1.0-py3-none-any.whl", 0))],
                              reserved=("acme-*",))
    assert asked == [FIRST + "acme-tool/ (same origin only)"]
    assert outcome.status == sources.REFUSED
    assert "'acme-tool' is reserved (pattern 'acme-*')" in (outcome.refusal or "")
    # ... but the first source may hold it.
    held, _ = _compose("acme-tool", [_html("acme_tool-1.0-py3-none-any.whl"), 500],
                       reserved=("acme-*",))
    assert held.status == 200 and held.source == 0


def test_the_cooldown_hides_new_and_undated_files_on_a_page_that_dates_files() -> None:
    outcome, _ = _compose("bar-baz", [404, _json(("bar_baz-1.9-py3-none-any.whl", 30 * DAY),
                                                 ("bar_baz-2.0-py3-none-any.whl", 3600),
                                                 ("bar_baz-2.1-py3-none-any.whl", None))],
                          cooldown="7 days")
    assert [f.filename for f in outcome.files] == ["bar_baz-1.9-py3-none-any.whl"]
    assert [f.filename for f, _ in outcome.hidden] == ["bar_baz-2.0-py3-none-any.whl",
                                                       "bar_baz-2.1-py3-none-any.whl"]
    assert outcome.status == 200 and "cooldown 7 days hides 2 file(s)" in (outcome.note or "")


def test_the_cooldown_applies_to_the_first_source_too_and_refuses_when_nothing_is_left() -> None:
    outcome, _ = _compose("foo", [_json(("foo-1.0-py3-none-any.whl", 3600)), 500],
                          cooldown="P7D")
    assert outcome.status == sources.REFUSED and not outcome.files
    assert "none is left" in (outcome.refusal or "")


def test_exempt_names_and_undated_pages_are_outside_the_cooldown() -> None:
    fresh = _json(("acme_lib-1.0-py3-none-any.whl", 60))
    exempt, _ = _compose("acme-lib", [fresh, 500], cooldown="7 days",
                         cooldown_exempt=("acme-*",))
    assert len(exempt.files) == 1 and not exempt.hidden
    undated, _ = _compose("foo", [_html("foo-1.0-py3-none-any.whl"), 500], cooldown="7 days")
    assert len(undated.files) == 1 and undated.undated


def test_read_page_follows_redirects_and_sends_the_login_to_the_source_host_only() -> None:
    seen: list[tuple[str, str | None]] = []

    def hop(url: str, headers: dict[str, str]) -> sources.Answer:
        seen.append((url, headers.get("Authorization")))
        if url.startswith("https://first.example/"):
            return sources.Answer(303, location="https://elsewhere.example/simple/foo/")
        return sources.Answer(200, content_type="text/html", body=b"")

    fetched = sources.read_page("https://u:p@first.example/simple/",
                                "https://u:p@first.example/simple/foo/", ("u", "p"), hop)
    assert fetched.url == "https://elsewhere.example/simple/foo/" and fetched.status == 200
    assert seen[0][0] == "https://first.example/simple/foo/" and seen[0][1] is not None
    assert seen[1][1] is None


def _redirecting(target: str) -> tuple[list[str], Callable[[str, dict[str, str]], sources.Answer]]:
    """A first source that redirects every page to ``target`` (relative to the page)."""
    seen: list[str] = []

    def hop(url: str, headers: dict[str, str]) -> sources.Answer:
        seen.append(url)
        if url.startswith(FIRST) and not url.endswith("/foo/"):
            return sources.Answer(303, location=target)
        return sources.Answer(200, content_type="text/html", body=b"")

    return seen, hop


def test_read_page_says_where_a_redirect_leaves_the_sources_origin() -> None:
    seen, hop = _redirecting("/simple/foo/")  # /simple/Foo/ -> /simple/foo/: same origin
    same = sources.read_page(FIRST, FIRST + "Foo/", None, hop, same_origin_only=True)
    assert (same.status, same.url, same.elsewhere) == (200, FIRST + "foo/", None)
    for target in ("https://pypi.example/simple/foo/", "http://first.example/simple/foo/",
                   "https://first.example:8443/simple/foo/"):
        seen, hop = _redirecting(target)
        followed = sources.read_page(FIRST, FIRST + "x/", None, hop)
        assert (followed.status, followed.url, followed.elsewhere) == (200, target, target)
        seen, hop = _redirecting(target)
        stopped = sources.read_page(FIRST, FIRST + "x/", None, hop,
                                    same_origin_only=True)
        assert (stopped.status, stopped.elsewhere) == (303, target)
        assert seen == [FIRST + "x/"]  # the other origin is not asked


def _refused_by_the_first_source(project: str, answer: sources.Fetched,
                                  pattern: str) -> sources.Outcome:
    """A reserved name's outcome when the first source answers ``answer``: refused, with
    only the first source asked (and told not to follow a redirect elsewhere)."""
    outcome, asked = _compose(project, [answer, 500], reserved=(pattern,))
    assert asked == [FIRST + f"{normalize_name(project)}/ (same origin only)"]
    assert outcome.status == sources.REFUSED and not outcome.files
    return outcome


def test_a_reserved_name_a_first_source_redirects_to_another_origin_is_refused() -> None:
    elsewhere = sources.Fetched(FIRST + "acme-tool/", 303,
                                elsewhere="https://pypi.example/simple/acme-tool/")
    outcome = _refused_by_the_first_source("acme-tool", elsewhere, "acme-*")
    assert outcome.refusal == (
        f"'acme-tool' is reserved (pattern 'acme-*') and the first source ({FIRST}) "
        "redirected it elsewhere (https://pypi.example/simple/acme-tool/), a fallback of its "
        "own; a reserved name is only taken from its source's own origin")


def test_another_origin_a_first_source_redirects_to_is_its_answer_under_the_cooldown() -> None:
    def redirected(page: sources.Fetched) -> sources.Fetched:
        return sources.Fetched(PYPI + "bar-baz/", 200, page.content_type, page.body,
                               elsewhere=PYPI + "bar-baz/")

    dated = redirected(_json(("bar_baz-1.9-py3-none-any.whl", 30 * DAY),
                             ("bar_baz-2.0-py3-none-any.whl", 3600)))
    outcome, asked = _compose("bar-baz", [dated, 500], cooldown="7 days")
    assert asked == [FIRST + "bar-baz/"]
    assert (outcome.status, outcome.source, outcome.redirected) == (200, 0, PYPI + "bar-baz/")
    assert [f.filename for f in outcome.files] == ["bar_baz-1.9-py3-none-any.whl"]
    assert "a server-side fallback" in outcome.steps[0]
    # An undated page from another origin is not outside the cooldown: doctor cannot have
    # said so of an origin that is no source of the profile.
    undated, _ = _compose("bar-baz", [redirected(_html("bar_baz-2.0-py3-none-any.whl")), 500],
                          cooldown="7 days")
    assert undated.status == sources.REFUSED and not undated.undated
    assert "on a page another origin answered" in (undated.refusal or "")
    plain, _ = _compose("bar-baz", [redirected(_html("bar_baz-2.0-py3-none-any.whl")), 500])
    assert plain.status == 200 and len(plain.files) == 1


def test_a_page_the_first_source_took_from_its_upstream_is_no_reserved_names_page() -> None:
    """A caching first source (serve --cache) answers 200 for every name; its mark says
    the page came from its own upstream: a fallback for a reserved name, nothing else."""
    page = _json(("foo-9.9.9-py3-none-any.whl", 40 * DAY))
    cached = sources.Fetched(FIRST + "foo/", 200, page.content_type, page.body,
                             from_upstream=True)
    outcome = _refused_by_the_first_source("Foo", cached, "foo")
    assert outcome.refusal == (
        f"'foo' is reserved (pattern 'foo') and the first source ({FIRST}) does not hold it: "
        "its page came from that server's own upstream (X-Pipwrap-Origin: upstream), a "
        "fallback of its own; a reserved name is never taken from a fallback")
    other, _ = _compose("Foo", [cached, 500], reserved=("acme-*",))
    unmarked, _ = _compose("Foo", [page, 500], reserved=("acme-*",))
    assert (other.status, other.files, other.steps) == (200, unmarked.files, unmarked.steps)


@pytest.mark.parametrize("where", ["redirect", "page", None])
def test_read_page_sees_the_mark_on_any_hop(where: str | None) -> None:
    """nginx-conf marks its redirect to the fallback, serve --cache the page itself."""
    from pipwrap.indexpage import FROM_UPSTREAM

    def hop(url: str, headers: dict[str, str]) -> sources.Answer:
        if url.endswith("/Foo/"):
            return sources.Answer(303, location="/simple/foo/",
                                  origin=FROM_UPSTREAM if where == "redirect" else None)
        return sources.Answer(200, content_type="text/html", body=b"",
                              origin=FROM_UPSTREAM.upper() if where == "page" else None)

    fetched = sources.read_page(FIRST, FIRST + "Foo/", None, hop)
    assert (fetched.status, fetched.from_upstream) == (200, where is not None)


def test_read_page_turns_no_answer_into_a_failure() -> None:
    def hop(url: str, headers: dict[str, str]) -> sources.Answer:
        raise sources.NoAnswer("timed out")

    fetched = sources.read_page(FIRST, FIRST + "foo/", None, hop)
    assert fetched.status is None and "timed out" in fetched.error


@pytest.mark.parametrize(("accept", "json_wanted"), [
    ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
     "text/html; q=0.01", True),
    ("text/html", False),
    (None, False),
    ("application/vnd.pypi.simple.v1+json;q=0.1, text/html", False),
])
def test_the_client_gets_the_form_it_prefers(accept: str | None, json_wanted: bool) -> None:
    assert sources.prefers_json(accept) is json_wanted


@pytest.mark.parametrize("as_json", [True, False])
def test_a_composed_page_round_trips_with_absolute_urls(as_json: bool) -> None:
    outcome, _ = _compose("bar-baz", [404, _json(("bar_baz-1.9-py3-none-any.whl", 30 * DAY))])
    body, content_type = pagerender.project_page("bar-baz", outcome.files,
                                                 sources.versions(outcome.files),
                                                 as_json=as_json)
    # Served under the first source's URL, the files still point at the fallback.
    again = parse(body, content_type, FIRST + "bar-baz/")
    assert [f.url for f in again] == [f.url for f in outcome.files]
    assert again[0].hashes == {"sha256": "ab" * 32}
    if as_json:
        assert again[0].upload_time == outcome.files[0].upload_time
        assert json.loads(body)["versions"] == ["1.9"]


def test_a_composed_policy_passes_only_listed_files_also_on_the_index_server() -> None:
    policy = Policy("https://first.example/repo/simple/", composed=True)
    listed = "https://first.example/repo/files/foo-1.0-py3-none-any.whl"
    hidden = "https://first.example/repo/files/foo-2.0-py3-none-any.whl"
    under = "https://first.example/repo/simple/foo/foo-2.0-py3-none-any.whl"
    policy.saw_page(parse(f'<a href="{listed}#sha256={"ef" * 32}">x</a>', "text/html",
                          "https://first.example/repo/simple/foo/"), "foo")
    assert policy.decide("GET", listed).sha256 == frozenset({"ef" * 32})
    assert not policy.decide("GET", hidden).allowed
    assert not policy.decide("GET", under).allowed
    assert policy.decide("GET", "https://first.example/repo/simple/foo/").allowed
    # Without the keys, the repository's files pass as before (checked when listed).
    assert Policy("https://first.example/repo/simple/").decide("GET", hidden).allowed


@pytest.mark.parametrize(("text", "seconds"), [
    ("7 days", 7 * DAY), ("1 day", DAY), ("12 hours", 43200), ("P7D", 7 * DAY),
    ("PT12H", 43200), ("P1DT6H", DAY + 6 * 3600), ("P1W", 7 * DAY),
    ("0 days", None), ("P", None), ("PT", None), ("7d", None), ("7 weeks", None),
    ("P1M", None), ("soon", None),
])
def test_durations(text: str, seconds: int | None) -> None:
    assert duration_seconds(text) == seconds


def test_iso_duration_is_what_pip_takes() -> None:
    assert iso_duration(7 * DAY) == "P7D"
    assert iso_duration(43200) == "PT12H"


def test_patterns_are_normalized_names() -> None:
    assert pattern_problem("acme-*") is None
    assert "write 'acme-*'" in (pattern_problem("Acme_*") or "")
    assert pattern_problem("a/b") is not None
    assert pattern_problem("") is not None
    assert matches("Acme.Tool", ("other", "acme-*")) == "acme-*"
    assert matches("acmetool", ("acme-*",)) is None


def test_upload_times_in_every_spelling() -> None:
    assert sources.upload_timestamp("2027-01-15T08:00:00Z") == \
        sources.upload_timestamp("2027-01-15T09:00:00+01:00") == \
        sources.upload_timestamp("2027-01-15T08:00:00")
    assert sources.upload_timestamp("2027-01-15T08:00:00.5Z") == \
        sources.upload_timestamp("2027-01-15T08:00:00Z") + 0.5  # type: ignore[operator]
    assert sources.upload_timestamp("yesterday") is None
    assert sources.upload_timestamp(None) is None


def test_the_agent_composes_a_single_source_with_a_cooldown_or_reserved_names_and_nothing_without_keys(
) -> None:
    """``reserved`` alone composes too: a local-first first source answers names it does not
    hold from its own upstream, which only a composed page sees (red-team 3, finding 1)."""
    from pipwrap.fence.agent import _rules

    alone = _rules(PYPI, {"fallback": [], "reserved": [], "cooldown": "7 days",
                          "cooldown_exempt": []})
    assert alone is not None and alone.sources == (PYPI,) and alone.cooldown_seconds == 7 * DAY
    assert _rules(PYPI, None) is None
    reserved = _rules(PYPI, {"fallback": [], "reserved": ["acme-*"], "cooldown": None})
    assert reserved is not None and reserved.sources == (PYPI,)
    assert _rules(PYPI, {"fallback": [], "reserved": [], "cooldown": None}) is None
    with pytest.raises(ValueError):
        _rules(PYPI, {"fallback": "https://x/", "cooldown": None})


def test_an_agent_that_predates_the_keys_is_refused(tmp_path: object,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Across an upgrade the old agent may answer once more; it would pass pages as they
    are, so a session with sources must hear that they are enforced, or fail closed."""
    import socket
    import threading
    from pathlib import Path

    from pipwrap.fence import client

    base = Path(str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "c"))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "d"))
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(Path(client.run_dir()) / client.SOCKET_NAME))
    listener.listen()

    def old_agent() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(json.dumps({"token": "t", "port": 1, "pid": 1}).encode() + b"\n")

    thread = threading.Thread(target=old_agent, daemon=True)
    thread.start()
    with pytest.raises(client.FenceError, match="does not enforce"):
        client.open_session(FIRST, sources={"fallback": [PYPI], "reserved": [],
                                            "cooldown": None, "cooldown_exempt": []})
    assert client.open_session(FIRST).proxy_url.startswith("http://pipwrap:t@")
    thread.join(5)
    listener.close()


def test_the_steps_count_files_in_words() -> None:
    one, _ = _compose("foo", [_html("foo-1.0-py3-none-any.whl"), 404])
    two, _ = _compose("foo", [_html("foo-1.0-py3-none-any.whl", "foo-1.0.tar.gz"), 404])
    assert one.steps[0].endswith("has 'foo' (1 file)"), one.steps
    assert two.steps[0].endswith("has 'foo' (2 files)"), two.steps


@pytest.mark.parametrize(("index", "hint"), [
    ("http://127.0.0.1:8080/simple/", True),   # the built-in `local` profile's URL
    ("http://localhost:3141/root/pypi/+simple/", True),
    ("http://[::1]:9000/simple/", True),
    (FIRST, False),
])
def test_a_single_failing_source_is_the_index_failing_with_serve_hinted_on_loopback(
        index: str, hint: bool) -> None:
    def fetch(number: int, url: str, same_origin_only: bool = False) -> sources.Fetched:
        return sources.Fetched(url, None, error="connection refused")

    outcome = sources.compose("foo", sources.Rules((index,)), fetch, NOW)
    refusal = outcome.refusal or ""
    assert outcome.status == sources.FAILED
    assert refusal.startswith(f"the index ({index}) failed for 'foo' (connection refused)")
    assert "next" not in refusal and "sources fail closed" not in refusal, refusal
    assert (SERVE_HINT in refusal) is hint, refusal
    served_500, _ = _compose("foo", [500, 404])  # several sources: their rule is said
    assert "only a 404 or 410 moves on to the next" in (served_500.refusal or "")


def test_a_page_listing_another_projects_file_serves_only_its_own() -> None:
    """Red-team 3: the fallback's helper page also lists foo-9.9.9...whl (foo reserved):
    the composed page leaves it out, and the steps say so."""
    outcome, _asked = _compose("helper", [404, _json(("helper-1.0-py3-none-any.whl", 40 * DAY),
                                                     ("foo-9.9.9-py3-none-any.whl", 40 * DAY))],
                               reserved=("foo",))
    assert outcome.status == 200
    assert [f.filename for f in outcome.files] == ["helper-1.0-py3-none-any.whl"]
    assert any("foo-9.9.9-py3-none-any.whl" in step and "another project" in step
               for step in outcome.steps), outcome.steps
