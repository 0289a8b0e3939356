"""The guard's reading of pip, held against the real pips it claims to know.

For every supported pip (the versions in pipwrap/guard/pip_table.py, plus the newest on
PyPI, which must be one of them): the committed table is exactly what its generator
makes from those pips (``scripts/gen_pip_table.py --check``);
every option string pip accepts (each name, alias and unambiguous prefix, long and
short) resolves in the guard's model exactly as in pip's own optparse; every option is
classified; every PIP_* spelling pip reads as a source is scrubbed; and on random
command lines built from real option strings, whenever pip itself would read a second
source, the guard refuses. A pip release that adds or changes an option fails here.
"""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from pathlib import Path

import pytest

from pipwrap.errors import RefusedError
from pipwrap.guard import pip as guard_pip
from pipwrap.guard import pip_table, scrub
from pipwrap.guard.api import check
from pipwrap.guard.optparse_model import ParseError
from tests.support.pips import GENERATOR, ask, clean_env, pip_python

VERSIONS = sorted(pip_table.VERSIONS, key=guard_pip._version_key)
CLASSIFIED = (set(guard_pip.SOURCE) | set(guard_pip.FILES) | guard_pip.REQUIREMENT_VALUES
              | guard_pip.SCRIPT_VALUES | guard_pip.GROUP_VALUES | guard_pip.HARMLESS)
INDEX = "http://127.0.0.1:9/simple/"


@pytest.fixture(scope="session", params=VERSIONS)
def real_pip(request: pytest.FixtureRequest) -> tuple[str, Path]:
    version = str(request.param)
    return version, pip_python(f"=={version}", version)


def test_newest_pip_on_pypi_is_in_the_table() -> None:
    newest = pip_python("", "newest")  # no pin: whatever the registry has now
    tables = ask(newest, "tables")
    assert isinstance(tables, dict)
    assert tables["version"] in pip_table.VERSIONS, (
        f"pip {tables['version']} is out: regenerate with scripts/gen_pip_table.py and "
        "review every new option it reports")


def test_table_is_what_the_generator_makes_from_the_real_pips() -> None:
    pythons = [str(pip_python(f"=={version}", version)) for version in VERSIONS]
    done = subprocess.run([sys.executable, str(GENERATOR), "--check", *pythons],
                          capture_output=True, text=True, check=False, env=clean_env())
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr


def test_generators_do_not_import_the_tests() -> None:
    """scripts/ stands alone (tests may use it, not the other way round): a generator run
    on a machine without the test suite, or a --check, must not depend on tests/."""
    scripts = GENERATOR.parent
    for path in sorted(scripts.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "tests" or n.startswith("tests.") for n in names), path
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                # a path into tests/ (HERE.parent / "tests" / ...), not prose mentioning it
                assert node.value != "tests" and not (
                    node.value.startswith("tests/") and "\n" not in node.value), path


def test_every_dest_is_classified() -> None:
    dests = {option[2] for option in pip_table.OPTIONS}
    assert dests - CLASSIFIED == set(), "classify these in pipwrap/guard/pip.py"
    assert not set(guard_pip.SOURCE) & guard_pip.HARMLESS


def _spellings(scope_table: guard_pip.Table) -> list[str]:
    """Every long name, alias and prefix down to ``--x``, and every short option."""
    strings = {f"-{c}" for c in scope_table.short}
    for name in scope_table.long:
        strings.update(name[:end] for end in range(3, len(name) + 1))
    return sorted(strings)


def _ours(scope_table: guard_pip.Table, string: str) -> str:
    try:
        option = scope_table.match_long(string) if string.startswith("--") else \
            scope_table.short[string[1]]
    except (ParseError, KeyError):
        return "error"
    return f"{option.dest}|{int(option.takes_value)}"


def test_every_option_string_resolves_as_pip_resolves_it(real_pip: tuple[str, Path]) -> None:
    version, python = real_pip
    scopes = ["general", "reqfile", *sorted(guard_pip.FETCHING & guard_pip.commands(version))]
    # Strings from every version's tables, so a spelling known elsewhere is asked too.
    queries = []
    for scope in scopes:
        strings: set[str] = set()
        for other in VERSIONS:
            if scope in ("general", "reqfile") or scope in guard_pip.commands(other):
                strings.update(_spellings(guard_pip.table(other, scope)))
        queries += [[scope, s] for s in sorted(strings)]
    answers = ask(python, "resolve", queries)
    assert isinstance(answers, list)
    mismatches = [
        (scope, string, real, _ours(guard_pip.table(version, scope), string))
        for (scope, string), real in zip(queries, answers)
        if real != _ours(guard_pip.table(version, scope), string)
    ]
    assert mismatches == []
    assert len(queries) > 1000


def test_every_source_spelling_is_refused(real_pip: tuple[str, Path]) -> None:
    """Each string this pip resolves to a source option, in every form, is refused."""
    version, python = real_pip
    lines: list[list[str]] = []
    for command in sorted(guard_pip.FETCHING & guard_pip.commands(version)):
        scope_table = guard_pip.table(version, command)
        sources = [s for s in _spellings(scope_table)
                   if _ours(scope_table, s).split("|")[0] in guard_pip.SOURCE]
        assert sources, command
        for string in sources:
            takes = _ours(scope_table, string).endswith("|1")
            forms = [[command, string, INDEX + "x", "foo"]] if takes else [[command, string, "foo"]]
            if takes and string.startswith("--"):
                forms.append([command, f"{string}={INDEX}x", "foo"])
            if takes and not string.startswith("--"):
                forms += [[command, f"{string}{INDEX}x", "foo"], [command, f"-q{string[1]}", "x"]]
            forms.append([string, *([INDEX + "x"] if takes else []), command, "foo"])
            lines += forms
    answers = ask(python, "parse", lines)
    assert isinstance(answers, list)
    passed = []
    for argv, real in zip(lines, answers):
        if real["error"]:
            continue  # this pip rejects the line: nothing would run
        try:
            check(["pip", *argv], {"PATH": "/usr/bin:/bin"}, index_url=INDEX)
        except RefusedError:
            continue
        passed.append(argv)
    assert passed == []


def test_pip_env_spellings_that_add_a_source_are_scrubbed(real_pip: tuple[str, Path]) -> None:
    version, python = real_pip
    names = set()
    for scope in ("general", *guard_pip.commands(version)):
        for option in guard_pip.table(version, scope).long.values():
            if option.dest in guard_pip.SOURCE or option.dest in guard_pip.REQUIREMENT_VALUES:
                names.update(n[2:] for n in option.longs)
    assert {"index-url", "pypi-url", "extra-index-url", "find-links", "trusted-host"} <= names
    variables = []
    for name in sorted(names):
        base = name.replace("-", "_")
        variables += [f"PIP_{base.upper()}", f"PIP_{base}", f"PIP___{base.upper()}",
                      f"PIP_{base.title()}"]
    answers = ask(python, "env", [{v: "http://127.0.0.1:9/evil/"} for v in variables])
    assert isinstance(answers, list)
    read = 0
    for variable, real in zip(variables, answers):
        if real != "error" and set(real) & (set(guard_pip.SOURCE) | guard_pip.REQUIREMENT_VALUES):
            read += 1
            assert variable in scrub.unset_names({variable: "x"}), (variable, real)
    assert read >= 20


def test_every_kept_pip_variable_is_harmless_to_this_pip(real_pip: tuple[str, Path]) -> None:
    """What the scrub keeps, pip reads as nothing that adds a source."""
    version, python = real_pip
    kept = []
    for scope in ("general", *guard_pip.commands(version)):
        for option in guard_pip.table(version, scope).long.values():
            for name in option.longs:
                variable = "PIP_" + name[2:].upper().replace("-", "_")
                if variable not in scrub.unset_names({variable: "x"}):
                    kept.append(variable)
    cases = [{v: "1"} for v in kept if not v.endswith(("REQUIREMENT", "CONSTRAINT"))]
    answers = ask(python, "env", cases)
    assert isinstance(answers, list)
    for case, real in zip(cases, answers):
        assert real == "error" or not set(real) & set(guard_pip.SOURCE), case


def _random_lines(version: str, rng: random.Random, count: int) -> list[list[str]]:
    """Command lines from real option strings pip accepts (names, aliases, prefixes),
    with `=`, attached and clustered forms, general options before the subcommand,
    and a third of the options adding a source."""
    fetching = sorted(guard_pip.FETCHING & guard_pip.commands(version))
    general = guard_pip.table(version, "general")
    general_strings = [s for s in _spellings(general) if _ours(general, s) != "error"]
    values = [INDEX + "evil", "/tmp", "foo", "install", "-", "=x", "-q"]
    lines = []
    for _ in range(count):
        command = rng.choice(fetching)
        scope = guard_pip.table(version, command)
        accepted = [s for s in _spellings(scope) if _ours(scope, s) != "error"]
        sources = [s for s in accepted if _ours(scope, s).split("|")[0] in guard_pip.SOURCE]
        before: list[str] = []
        after: list[str] = []
        for _ in range(rng.randint(1, 4)):
            at_front = rng.random() < 0.25
            pool = general_strings if at_front else (sources if rng.random() < 0.35
                                                     else accepted)
            option = rng.choice(pool)
            takes = _ours(general if at_front else scope, option).endswith("|1")
            words = before if at_front else after
            value = rng.choice(values)
            if not takes:
                words.append(option if option.startswith("--") or rng.random() < 0.5
                             else f"-{rng.choice('qv')}{option[1]}")
            elif option.startswith("--"):
                words += [f"{option}={value}"] if rng.random() < 0.4 else [option, value]
            elif rng.random() < 0.4:
                words.append(f"-{rng.choice(['', 'q', 'qv'])}{option[1]}{value}")
            else:
                words += [option, value]
        lines.append([*before, command, *after, "foo"])
    return lines


def test_fuzz_guard_never_passes_what_pip_reads_as_a_source(real_pip: tuple[str, Path]) -> None:
    version, python = real_pip
    rng = random.Random(f"pipwrap-{version}")  # noqa: S311 - reproducible, not secret
    lines = _random_lines(version, rng, 800)
    results = ask(python, "parse", lines)
    assert isinstance(results, list)
    dangerous = 0
    for argv, real in zip(lines, results):
        if real["error"] or real["command"] not in guard_pip.FETCHING:
            continue
        if set(real["set"]) & set(guard_pip.SOURCE):
            dangerous += 1
            with pytest.raises(RefusedError):
                check(["pip", *argv], {"PATH": "/usr/bin:/bin"}, index_url=INDEX)
    assert dangerous > 50, "the generator must reach pip's source options"
