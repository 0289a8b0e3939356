"""Run inside a venv's own interpreter: print that pip's option tables as JSON.

Used by scripts/gen_pip_table.py to write (or ``--check``) ``pipwrap/guard/pip_table.py``
and, in the differential tests, to ask each real pip how it resolves option strings. Only
pip and the stdlib are imported: this file runs in each pip's own interpreter.

    python pip_introspect.py tables           -> {"version", "general", "commands", "reqfile"}
    python pip_introspect.py resolve < JSON    -> for [[scope, string], ...]: dest or error
    python pip_introspect.py env < JSON        -> for {"NAME": "value"}: the dests pip sets
"""

from __future__ import annotations

import json
import sys


def _records(parser):  # type: ignore[no-untyped-def]
    return [
        {"long": list(o._long_opts), "short": "".join(s[1] for s in o._short_opts),
         "dest": o.dest, "takes_value": bool(o.takes_value())}
        for o in parser._get_all_options()
        if o.dest is not None or o._long_opts
    ]


def _parsers():  # type: ignore[no-untyped-def]
    from pip._internal.cli.main_parser import create_main_parser
    from pip._internal.commands import commands_dict, create_command
    from pip._internal.req import req_file

    parsers = {"general": create_main_parser(), "reqfile": req_file.build_parser()}
    for name in commands_dict:
        parsers[name] = create_command(name).parser
    return parsers


def tables() -> dict[str, object]:
    import pip

    parsers = _parsers()
    general = _records(parsers.pop("general"))
    reqfile = _records(parsers.pop("reqfile"))
    # Each subcommand's parser in full: which general options it repeats differs
    # between pips (26 leaves --version to the main parser).
    commands = {name: _records(p) for name, p in parsers.items()}
    return {"version": pip.__version__, "general": general, "commands": commands,
            "reqfile": reqfile}


def resolve(queries: list[list[str]]) -> list[str]:
    """How pip's optparse reads each option string: ``dest|takes_value`` or ``error``."""
    import optparse

    parsers = _parsers()
    out = []
    for scope, string in queries:
        parser = parsers[scope]
        try:
            if string.startswith("--"):
                name = parser._match_long_opt(string)
                option = parser._long_opt[name]
            else:
                option = parser._short_opt[string]
        except (optparse.BadOptionError, KeyError):
            out.append("error")
            continue
        out.append(f"{option.dest}|{int(option.takes_value())}")
    return out


def env(cases: list[dict[str, str]]) -> list[object]:
    """For each set of PIP_* variables: the option dests pip's install command takes from
    them (sorted), or "error" when pip rejects a value."""
    import contextlib
    import io
    import os

    from pip._internal.commands import create_command

    for name in [k for k in os.environ if k.startswith("PIP_")]:
        del os.environ[name]
    os.environ["PIP_CONFIG_FILE"] = os.devnull
    base = vars(create_command("install").parser.get_default_values())
    out: list[object] = []
    for variables in cases:
        os.environ.update(variables)
        try:
            with contextlib.redirect_stderr(io.StringIO()), \
                    contextlib.redirect_stdout(io.StringIO()):
                values = vars(create_command("install").parser.get_default_values())
        except (SystemExit, Exception):
            out.append("error")
        else:
            out.append(sorted(k for k, v in values.items() if base.get(k) != v))
        for name in variables:
            del os.environ[name]
    return out


def parse_lines(lines: list[list[str]]) -> list[dict[str, object]]:
    """pip's own main-parser and subcommand reading of each argv: the subcommand and the
    option dests it sets away from their defaults, or an error."""
    import contextlib
    import copy
    import io
    import os

    from pip._internal.cli.main_parser import parse_command
    from pip._internal.commands import create_command

    for name in [k for k in os.environ if k.startswith("PIP_")]:
        del os.environ[name]
    os.environ["PIP_CONFIG_FILE"] = os.devnull
    out: list[dict[str, object]] = []
    for argv in lines:
        try:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                name, cmd_args = parse_command(list(argv))
                command = create_command(name)
                defaults = copy.deepcopy(vars(command.parser.get_default_values()))
                options, _ = command.parse_args(cmd_args)
        except (SystemExit, Exception):
            out.append({"error": True})
            continue
        changed = sorted(k for k, v in vars(options).items() if defaults.get(k) != v)
        out.append({"error": False, "command": name, "set": changed})
    return out


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "tables":
        result: object = tables()
    elif mode == "resolve":
        result = resolve(json.load(sys.stdin))
    elif mode == "parse":
        result = parse_lines(json.load(sys.stdin))
    else:
        result = env(json.load(sys.stdin))
    json.dump(result, sys.stdout)
