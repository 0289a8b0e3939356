"""One profile, several sources, every installer (issue 24, "Tests").

The profile under test:

    index-url = FIRST            # python -m http.server over a PEP 503 tree: Foo 1.0
    fallback = [UPSTREAM]        # a "PyPI": evil Foo 9.9.9, bar-baz 1.9 (30 days old) and
                                 # 2.0 (an hour old), evil acme-tool; PEP 691 + upload-time
    reserved = ["acme-*"]
    cooldown = "7 days"

Each tool runs for real in bash. First without pipwrap, naming both indexes the tool's own
way (``--extra-index-url``, a second source): the evil Foo 9.9.9, bar-baz 2.0 and the evil
acme-tool install, so the attack is real. Then through ``wrap``: Foo 1.0 from the first
source, bar-baz 1.9 from the fallback (2.0 is inside the cooldown), and acme-tool refused
with the rule named. With the first source stopped, or answering 500, nothing comes from the
fallback. The lock-writing tools' files keep naming the real sources, so a teammate without
pipwrap installs from them.

The servers, the pips and the tools' venv are made once per module; the tests are
parametrized by tool. The table in docs/fence.md ("Several sources, every installer") lists
the result of every test here.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import fenced, hosting, sources, static_index
from tests.support.sandbox import Indexes, Sandbox, installed, write_file
from tests.support.servers import free_port
from tests.support.toolsvenv import tools_venv
from tests.support.wheels import make_wheel

EVIL = ("evil", "9.9.9")
NAMES = ("foo", "bar-baz")
PYTHON = sys.executable


@dataclass
class Stage:
    first: str  # the first source's index URL (python -m http.server)
    upstream: sources.Upstream
    broken: str  # an index URL answering 500 to everything
    down: str  # an index URL nothing listens on
    tools: Path  # the tools venv's bin
    app_data: Path  # virtualenv's, shared by the module's tests

    def profile(self, name: str, index_url: str) -> str:
        return (f'[profiles.{name}]\nindex-url = "{index_url}"\n'
                f'fallback = ["{self.upstream.url}"]\nreserved = ["acme-*"]\n'
                'cooldown = "7 days"\n\n')

    def config(self) -> str:
        return ('default = "sources"\n\n' + self.profile("sources", self.first)
                + self.profile("down", self.down) + self.profile("broken", self.broken))


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    root = tmp_path_factory.mktemp("sources")
    ours = make_wheel(root / "ours", "Foo", "1.0", "local")
    static_index.tree(root / "first", [ours])
    theirs = root / "upstream"
    uploads = [
        sources.Upload(make_wheel(theirs, "Foo", "9.9.9", "evil"), sources.ago(days=60)),
        sources.Upload(make_wheel(theirs, "bar-baz", "1.9", "upstream"), sources.ago(days=30)),
        sources.Upload(make_wheel(theirs, "bar-baz", "2.0", "upstream"), sources.ago(hours=1)),
        sources.Upload(make_wheel(theirs, "acme-tool", "9.9.9", "evil"), sources.ago(days=60)),
    ]
    bin_dir = tools_venv() / "bin"
    with hosting.http_server(root / "first") as first, \
            sources.serve_upstream(uploads) as upstream, \
            sources.failing_index() as broken:
        yield Stage(f"{first}simple/", upstream, broken,
                    f"http://127.0.0.1:{free_port()}/simple/", bin_dir, root / "app-data")


@pytest.fixture
def box(sandbox: Sandbox, stage: Stage) -> Sandbox:
    sandbox.write_config(stage.config())
    # One app-data directory for the module: virtualenv (under tox, hatch, pdm, poetry and
    # pip-sync's venv) then links its seed wheels instead of unpacking them each time.
    sandbox.env.update(UV_PYTHON=PYTHON, UV_PYTHON_DOWNLOADS="never", PDM_CHECK_UPDATE="false",
                       POETRY_VIRTUALENVS_IN_PROJECT="true",
                       VIRTUALENV_OVERRIDE_APP_DATA=str(stage.app_data))
    return sandbox


# --- the tools ------------------------------------------------------------------------
# Each tool writes its project into a directory and gives the shell lines that install
# ``names`` there: bare (both indexes named the tool's own way) or through `wrap`.

def _venv_site(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages"))
    return found[0] if found else venv / "lib/site-packages"


@dataclass
class Tool:
    name: str
    path: Callable[[Stage], list[Path]]  # what goes first on PATH
    # (stage, project, names, bare, the profile's index URL) -> shell lines
    lines: Callable[[Stage, Path, tuple[str, ...], bool, str], str]
    site: Callable[[Path], Path]  # where the project's packages end up
    locks: str | None = None  # the lock file or compiled requirements it writes
    # (stage, project) -> the shell lines a teammate without pipwrap installs the lock with
    teammate: Callable[[Stage, Path], str] | None = None


def _pyproject(names: tuple[str, ...], tool_tables: str) -> str:
    """A project of no package of its own that depends on ``names``."""
    deps = ", ".join(f'"{n}"' for n in names)
    return (f'[project]\nname = "app"\nversion = "0"\nrequires-python = ">=3.9"\n'
            f'dependencies = [{deps}]\n\n{tool_tables}')


def _installer_lines(command: str) -> Callable[[Stage, Path, tuple[str, ...], bool, str], str]:
    """pip's or `uv pip`'s lines: install into ``PROJECT/t``, both indexes by option when bare
    (uv asks an --extra-index-url before the --index-url, "first-index" from there on)."""
    def lines(stage: Stage, project: Path, names: tuple[str, ...], bare: bool,
              index: str) -> str:
        project.mkdir(parents=True, exist_ok=True)
        install = f"{command} install -q --target {project}/t {' '.join(names)}"
        if bare:
            return f"{install} --index-url {stage.first} --extra-index-url {stage.upstream.url}"
        return f"wrap {install}"
    return lines


def _uv_project_lines(stage: Stage, project: Path, names: tuple[str, ...], bare: bool,
        index: str) -> str:
    write_file(project / "pyproject.toml", _pyproject(names, "[tool.uv]\npackage = false\n"))
    if bare:  # an --index is asked before the --default-index
        return (f"uv lock -q --default-index {stage.first} --index {stage.upstream.url} && "
                "uv sync -q --frozen")
    return "wrap uv lock -q && wrap uv sync -q --frozen"


def _pip_tools_lines(stage: Stage, project: Path, names: tuple[str, ...], bare: bool,
        index: str) -> str:
    write_file(project / "requirements.in", "\n".join(names) + "\n")
    indexes = f" --index-url {stage.first} --extra-index-url {stage.upstream.url}" if bare \
        else ""
    wrap = "" if bare else "wrap "
    return (f"{wrap}pip-compile -q --generate-hashes{indexes} -o out.txt requirements.in && "
            f"virtualenv -q {project}/v && "
            f"{wrap}pip-sync -q --python-executable {project}/v/bin/python out.txt")


def _pip_lock_lines(stage: Stage, project: Path, names: tuple[str, ...], bare: bool,
        index: str) -> str:
    """pip 26's `pip lock` writes a PEP 751 pylock.toml; uv installs from it (pip cannot yet)."""
    project.mkdir(parents=True, exist_ok=True)
    indexes = f" --index-url {stage.first} --extra-index-url {stage.upstream.url}" if bare \
        else ""
    wrap = "" if bare else "wrap "
    return (f"{wrap}pip lock -q{indexes} -o pylock.toml {' '.join(names)} && "
            f"{wrap}uv pip install -q --target t -r pylock.toml")


def _pdm_lines(stage: Stage, project: Path, names: tuple[str, ...], bare: bool,
        index: str) -> str:
    text = _pyproject(names, "[tool.pdm]\ndistribution = false\n")
    if bare:  # pdm merges its sources and takes the highest version
        text += (f'\n[[tool.pdm.source]]\nname = "pypi"\nurl = "{stage.first}"\n'
                 f'\n[[tool.pdm.source]]\nname = "upstream"\nurl = "{stage.upstream.url}"\n')
    write_file(project / "pyproject.toml", text)
    wrap = "" if bare else "wrap "
    # --static-urls: the lock names each file's URL, so a teammate needs no source settings.
    return f"{wrap}pdm lock -q --static-urls && {wrap}pdm sync -q"


def _poetry_lines(stage: Stage, project: Path, names: tuple[str, ...], bare: bool,
        index: str) -> str:
    text = _pyproject(names, '[tool.poetry]\npackage-mode = false\n\n[[tool.poetry.source]]\n'
                      f'name = "first"\nurl = "{index}"\npriority = "primary"\n')
    if bare:  # two primary sources: poetry takes the highest version of either
        text += (f'\n[[tool.poetry.source]]\nname = "upstream"\nurl = "{stage.upstream.url}"\n'
                 'priority = "primary"\n')
    write_file(project / "pyproject.toml", text)
    wrap = "" if bare else "wrap "
    return f"{wrap}poetry lock -q && {wrap}poetry install -q --no-root"


def _hatch_lines(stage: Stage, project: Path, names: tuple[str, ...], bare: bool,
        index: str) -> str:
    deps = ", ".join(f'"{n}"' for n in names)
    write_file(project / "pyproject.toml", (
        '[project]\nname = "app"\nversion = "0"\n\n'
        f'[tool.hatch.envs.default]\nskip-install = true\npath = ".hatch"\n'
        f'dependencies = [{deps}]\n'))
    if bare:  # hatch's pip reads PIP_* from the environment
        return (f"PIP_INDEX_URL={stage.first} PIP_EXTRA_INDEX_URL={stage.upstream.url} "
                "hatch env create")
    return "wrap hatch env create"


def _tox_lines(stage: Stage, project: Path, names: tuple[str, ...], bare: bool,
        index: str) -> str:
    deps = "".join(f"    {n}\n" for n in names)
    write_file(project / "tox.ini", (
        f"[tox]\nno_package = true\nenv_list = t\n\n[testenv:t]\ndeps =\n{deps}"
        "commands = python -c pass\n"))
    if bare:  # tox passes PIP_* on to the pip that installs deps
        return (f"PIP_INDEX_URL={stage.first} PIP_EXTRA_INDEX_URL={stage.upstream.url} "
                "tox -q -e t")
    return "wrap tox -q -e t"


# A teammate has the project and its lock (as a clone has them) and no pipwrap.

def _uv_teammate(stage: Stage, project: Path) -> str:
    return "uv sync -q --frozen --no-cache"


def _pip_tools_teammate(stage: Stage, project: Path) -> str:
    # Every pin has its hashes: a second index cannot swap one.
    return (f"virtualenv -q {project}/v && pip-sync -q --python-executable {project}/v/bin/python"
            f" --pip-args '--no-cache-dir --extra-index-url {stage.upstream.url}' out.txt")


def _pip_lock_teammate(stage: Stage, project: Path) -> str:
    return "uv pip install -q --no-cache --target t -r pylock.toml"


def _pdm_teammate(stage: Stage, project: Path) -> str:
    return f"PDM_CACHE_DIR={project}/.cache pdm sync -q"  # a cache of its own


def _poetry_teammate(stage: Stage, project: Path) -> str:
    return "poetry install -q --no-root --no-cache"


def _tools_path(stage: Stage) -> list[Path]:
    return [stage.tools]


def _target(project: Path) -> Path:
    return project / "t"


TOOLS = [
    Tool("pip-oldest", lambda s: [fenced.pip_bin("23.2.1")], _installer_lines("pip"), _target),
    Tool("pip-newest", lambda s: [fenced.pip_bin("newest")], _installer_lines("pip"), _target),
    Tool("uv-pip", _tools_path, _installer_lines("uv pip"), _target),
    Tool("uv-lock-sync", _tools_path, _uv_project_lines, lambda p: _venv_site(p / ".venv"),
         locks="uv.lock", teammate=_uv_teammate),
    Tool("pip-tools", _tools_path, _pip_tools_lines, lambda p: _venv_site(p / "v"),
         locks="out.txt", teammate=_pip_tools_teammate),
    Tool("pip-lock", lambda s: [fenced.pip_bin("newest"), s.tools], _pip_lock_lines, _target,
         locks="pylock.toml", teammate=_pip_lock_teammate),
    Tool("pdm", _tools_path, _pdm_lines, lambda p: _venv_site(p / ".venv"), locks="pdm.lock",
         teammate=_pdm_teammate),
    # poetry's teammate: test_a_poetry_teammate_without_pipwrap_installs_from_the_lock_made_...
    Tool("poetry", _tools_path, _poetry_lines, lambda p: _venv_site(p / ".venv"),
         locks="poetry.lock"),
    Tool("hatch", _tools_path, _hatch_lines, lambda p: _venv_site(p / ".hatch")),
    Tool("tox", _tools_path, _tox_lines, lambda p: _venv_site(p / ".tox/t")),
]


def _params(tools: list[Tool]) -> list[object]:
    return [pytest.param(tool, id=tool.name) for tool in tools]


def _run(box: Sandbox, stage: Stage, tool: Tool, steps: list[str],
         **env: str) -> subprocess.CompletedProcess[str]:
    """Each step in bash, from the project directory it names first, with its status after."""
    path = ":".join(str(p) for p in tool.path(stage))
    script = f"export PATH={path}:$PATH\n"
    for step in steps:
        script += f"{step}\necho status=$?\n"
    done: subprocess.CompletedProcess[str] = box.sh("bash", script, **env)
    return done


def _statuses(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith("status=")]


def _got(site: Path) -> dict[str, tuple[str, str] | None]:
    return {name: installed(site, name.replace("-", "_")) for name in (*NAMES, "acme-tool")}


def _step(tool: Tool, stage: Stage, project: Path, names: tuple[str, ...], *, bare: bool,
          profile: str = "sources") -> str:
    """A subshell that installs ``names`` in ``project`` with ``profile``'s settings."""
    index = {"sources": stage.first, "down": stage.down, "broken": stage.broken}[profile]
    lines = tool.lines(stage, project, names, bare, index)
    return f"(export PIPWRAP_PROFILE={profile}; cd {project} && {lines})"


# --- the attack is real; wrap takes each project from its source -----------------------

@pytest.mark.parametrize("tool", _params(TOOLS))
def test_the_attack_is_real_and_wrap_takes_each_project_from_its_source(
        box: Sandbox, stage: Stage, tool: Tool) -> None:
    """Bare: the evil Foo, bar-baz 2.0 and the evil acme-tool. Wrapped: Foo 1.0, bar-baz 1.9,
    acme-tool refused naming the rule; a tool's lock names the real sources, and a teammate
    without pipwrap installs from it (one shell: the tools start once)."""
    bare, wrapped, reserved, teammate = (box.home / d for d in (
        "bare", "wrapped", "reserved", "teammate"))
    steps = [_step(tool, stage, bare, (*NAMES, "acme-tool"), bare=True),
             _step(tool, stage, wrapped, NAMES, bare=False),
             _step(tool, stage, reserved, ("acme-tool",), bare=False)]
    if tool.teammate:
        steps.append(_teammate_step(tool, stage, wrapped, teammate))
    done = _run(box, stage, tool, steps)
    out = done.stdout + done.stderr
    assert _got(tool.site(bare)) == {"foo": EVIL, "bar-baz": ("upstream", "2.0"),
                                     "acme-tool": EVIL}, f"the staged attack did not work:\n{out}"
    statuses = _statuses(done)
    assert statuses[:2] == ["status=0", "status=0"], out
    assert _got(tool.site(wrapped)) == {"foo": ("local", "1.0"), "bar-baz": ("upstream", "1.9"),
                                        "acme-tool": None}, out
    assert re.search(r"cooldown.*bar.baz-2\.0", done.stderr), done.stderr  # says what it hid
    if tool.locks:
        _assert_names_the_real_sources(stage, tool, (wrapped / tool.locks).read_text())
    assert statuses[2] != "status=0", out
    assert installed(tool.site(reserved), "acme_tool") is None, out
    # The rule is named where the user reads it: the fence's line on the command's stderr.
    assert re.search(r"reserved.*acme-\*|acme-\*.*reserved", done.stderr), done.stderr
    if tool.teammate:  # the lock wrap made installs without pipwrap
        assert statuses[3] == "status=0", out
        assert _got(tool.site(teammate)) == {"foo": ("local", "1.0"),
                                             "bar-baz": ("upstream", "1.9"),
                                             "acme-tool": None}, out


def _teammate_step(tool: Tool, stage: Stage, mine: Path, theirs: Path) -> str:
    """A copy of the project's files as a clone has them (no venv, no cache, no dotfile such
    as pdm's `.pdm-python`), installed from without pipwrap."""
    assert tool.teammate is not None
    return (f"(mkdir {theirs} && find {mine} -maxdepth 1 -type f -name '[!.]*' "
            f"-exec cp {{}} {theirs} \\; && cd {theirs} && {tool.teammate(stage, theirs)})")


URL = re.compile(r"https?://[^\s\"'<>#]+")


def _assert_names_the_real_sources(stage: Stage, tool: Tool, lock: str) -> None:
    """Lock files and compiled requirements name the sources themselves (never the fence's
    address), so a teammate or CI without pipwrap can install from them."""
    origins = {re.sub(r"^(https?://[^/]+).*", r"\1", url) for url in URL.findall(lock)}
    real = {stage.first.removesuffix("/simple/"), stage.upstream.url.removesuffix("/simple/"),
            stage.upstream.files_base}
    assert origins <= real, f"the lock names an address that is no source of ours:\n{lock}"
    # The first source is named: as the index (uv.lock's registry, pip-compile's --index-url,
    # poetry's source) or in its files' URLs (pdm's static URLs, pylock.toml).
    assert stage.first.removesuffix("simple/") in lock, lock
    assert "9.9.9" not in lock and "bar_baz-2.0" not in lock and "bar-baz==2.0" not in lock, lock
    if tool.name in ("uv-lock-sync", "pdm", "pip-lock"):  # these name every file's URL
        assert f"{stage.upstream.files_base}/packages/bar_baz-1.9-py3-none-any.whl" in lock
        assert f"{stage.first.removesuffix('simple/')}files/foo-1.0-py3-none-any.whl" in lock


# --- the first source down or failing: nothing from the fallback ----------------------

@pytest.mark.parametrize("tool", _params(TOOLS))
def test_a_first_source_that_is_down_or_failing_gives_nothing_from_the_fallback(
        box: Sandbox, stage: Stage, tool: Tool) -> None:
    down, broken = box.home / "down", box.home / "broken"
    asked = len(stage.upstream.requests)
    # No retries: pip and uv would ask a failing source again with back-off, to the same end.
    done = _run(box, stage, tool, [
        _step(tool, stage, down, NAMES, bare=False, profile="down"),
        _step(tool, stage, broken, NAMES, bare=False, profile="broken"),
    ], PIP_RETRIES="0", UV_HTTP_RETRIES="0")
    out = done.stdout + done.stderr
    assert len(_statuses(done)) == 2 and "status=0" not in _statuses(done), out
    for project in (down, broken):
        assert _got(tool.site(project)) == {"foo": None, "bar-baz": None,
                                            "acme-tool": None}, out
    assert stage.upstream.requests[asked:] == [], (
        f"the fallback was asked: {stage.upstream.requests[asked:]}\n{out}")
    # Refused by the rule, not by chance: each command's stderr names it.
    assert len(re.findall(r"fails? closed", done.stderr)) >= 2, done.stderr


POETRY_LOCK = ("poetry.lock names each package's source (the first source, the one index "
               "poetry was given) and its file names, never file URLs: a teammate's poetry asks "
               "the first source's page for bar-baz, which only the fallback has (measured: "
               "'Unable to find installation candidates for bar-baz (1.9)'). A team on poetry "
               "needs a first source that falls back itself (pipwrap serve --fallback).")


@pytest.mark.xfail(strict=True, reason=POETRY_LOCK)
def test_a_poetry_teammate_without_pipwrap_installs_from_the_lock_made_under_wrap(
        box: Sandbox, stage: Stage) -> None:
    tool = next(t for t in TOOLS if t.name == "poetry")
    mine, theirs = box.home / "mine", box.home / "teammate"
    done = _run(box, stage, tool, [_step(tool, stage, mine, NAMES, bare=False)])
    assert _statuses(done) == ["status=0"], done.stdout + done.stderr
    done = _run(box, stage, tool, [_teammate_step(
        dataclasses.replace(tool, teammate=_poetry_teammate), stage, mine, theirs)])
    out = done.stdout + done.stderr
    assert _statuses(done) == ["status=0"], out
    assert _got(tool.site(theirs)) == {"foo": ("local", "1.0"), "bar-baz": ("upstream", "1.9"),
                                       "acme-tool": None}, out


def test_wrap_uv_sync_frozen_works_in_a_new_shell_from_a_lock_made_under_wrap(
        box: Sandbox, stage: Stage) -> None:
    """`wrap uv lock`, then `wrap uv sync --frozen` in another shell with an empty cache: the
    new fence has seen no page, and lets the lock's files through by reading the sources."""
    tool = next(t for t in TOOLS if t.name == "uv-lock-sync")
    project = box.home / "proj"
    tool.lines(stage, project, NAMES, False, stage.first)
    done = _run(box, stage, tool, [f"cd {project} && wrap uv lock -q"])
    assert _statuses(done) == ["status=0"], done.stdout + done.stderr
    done = _run(box, stage, tool, [f"cd {project} && wrap uv sync -q --frozen --no-cache"])
    out = done.stdout + done.stderr
    assert _statuses(done) == ["status=0"], out
    assert _got(tool.site(project)) == {"foo": ("local", "1.0"), "bar-baz": ("upstream", "1.9"),
                                        "acme-tool": None}, out


# --- the fallback's files the composed page would not offer stay out -------------------

def _file(stage: Stage, name: str) -> str:
    return f"{stage.upstream.files_base}/packages/{name}"


def test_the_fallbacks_files_no_composed_page_offers_are_refused_when_asked_directly(
        box: Sandbox, stage: Stage) -> None:
    """What a lock or a script could name: the evil Foo (foo's page is the first source's),
    bar-baz 2.0 (inside the cooldown), the evil acme-tool (reserved); and a reserved name
    asked for in another spelling. bar-baz 1.9 passes."""
    asked = [_file(stage, "foo-9.9.9-py3-none-any.whl"),
             _file(stage, "bar_baz-2.0-py3-none-any.whl"),
             _file(stage, "acme_tool-9.9.9-py3-none-any.whl"),
             stage.first + "Acme_Tool/", stage.first + "acme.tool/",
             _file(stage, "bar_baz-1.9-py3-none-any.whl")]
    script = "".join(f"wrap {fenced.python_c(fenced.fetch(url))}\n" for url in asked)
    before = len(stage.upstream.requests)
    done = box.sh("bash", script)
    answers = [line for line in done.stdout.splitlines() if line.startswith(("status", "error"))]
    assert [a.split()[:2] for a in answers] == [["status", "403"]] * 5 + [["status", "200"]], (
        done.stdout + done.stderr)
    # A reserved name is never asked of a fallback: asking would tell it your private names.
    assert not [p for p in stage.upstream.requests[before:] if "acme" in p.lower()], (
        stage.upstream.requests[before:])


def test_a_lock_edited_to_name_the_fallbacks_evil_files_is_refused_under_wrap(
        box: Sandbox, stage: Stage) -> None:
    """A uv.lock made without pipwrap (evil Foo 9.9.9 and bar-baz 2.0 from the upstream),
    its registry rewritten to the profile's index so the guard lets it by: the fence reads
    each file's composed page, and neither file is on it."""
    tool = next(t for t in TOOLS if t.name == "uv-lock-sync")
    project = box.home / "proj"
    lines = tool.lines(stage, project, NAMES, True, stage.first).split(" && ")[0]
    done = _run(box, stage, tool, [f"cd {project} && {lines}"])
    assert _statuses(done) == ["status=0"], done.stdout + done.stderr
    lock = (project / "uv.lock").read_text()
    assert "foo-9.9.9" in lock and "bar_baz-2.0" in lock, lock
    (project / "uv.lock").write_text(lock.replace(stage.upstream.url, stage.first))
    done = _run(box, stage, tool, [f"cd {project} && wrap uv sync -q --frozen --no-cache"],
                UV_HTTP_RETRIES="0")
    out = done.stdout + done.stderr
    assert _statuses(done) != ["status=0"], out
    assert _got(_venv_site(project / ".venv")) == {"foo": None, "bar-baz": None,
                                                   "acme-tool": None}, out


def test_a_reserved_name_the_first_source_redirects_to_its_own_upstream_is_refused(
        box: Sandbox, stage: Stage, indexes: Indexes) -> None:
    """The first source is a local-first server (pypiserver here; `pipwrap serve --fallback`
    alike) that sends a name it does not hold to its upstream with a 303. For a reserved name
    that upstream is a fallback all the same: the evil package must not come from it."""
    box.write_config(
        f'default = "team"\n\n[profiles.team]\nindex-url = "{indexes.local.url}"\n'
        f'fallback = ["{stage.upstream.url}"]\nreserved = ["bar-*"]\n')
    done = box.sh("bash", f"wrap pip install -q --target {box.home}/t bar-baz\necho status=$?\n")
    assert done.stdout.strip().splitlines()[-1] != "status=0", done.stdout + done.stderr
    assert installed(box.home / "t", "bar_baz") is None, done.stdout + done.stderr
    assert "reserved" in done.stderr, done.stderr


def test_a_fallback_with_relative_links_and_no_upload_times(
        box: Sandbox, stage: Stage, indexes: Indexes) -> None:
    """A fallback that is a plain pypiserver (relative file links, HTML, no upload times): its
    links resolve against its own pages, never the first source, and its files are outside
    the cooldown (nothing dates them). Foo still comes from the first source."""
    box.write_config(
        f'default = "mirror"\n\n[profiles.mirror]\nindex-url = "{stage.first}"\n'
        f'fallback = ["{indexes.upstream.url}"]\ncooldown = "7 days"\n')
    done = box.sh("bash", f"wrap pip install -q --target {box.home}/t foo bar-baz\n"
                  "echo status=$?\n")
    assert done.stdout.strip().splitlines()[-1] == "status=0", done.stdout + done.stderr
    assert installed(box.home / "t") == ("local", "1.0"), done.stderr
    assert installed(box.home / "t", "bar_baz") == ("upstream", "2.0"), done.stderr
