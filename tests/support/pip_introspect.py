"""Run inside a venv's own interpreter: print that pip's option tables as JSON.

Used to generate ``pipwrap/guard/pip_table.py`` and, in the differential tests, to ask
each real pip how it resolves option strings. Only pip and the stdlib are imported.

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
    general_dests = {(tuple(r["long"]), r["dest"]) for r in general}
    commands = {
        name: [r for r in _records(p) if (tuple(r["long"]), r["dest"]) not in general_dests]
        for name, p in parsers.items()
    }
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


def env(variables: dict[str, str]) -> list[str]:
    """The option dests pip's install command takes from these PIP_* variables."""
    import os

    from pip._internal.commands import create_command

    for name in [k for k in os.environ if k.startswith("PIP_")]:
        del os.environ[name]
    os.environ.update(variables)
    os.environ["PIP_CONFIG_FILE"] = os.devnull
    parser = create_command("install").parser
    defaults = parser.get_default_values()
    baseline = create_command("install").parser
    for name in variables:
        del os.environ[name]
    base = baseline.get_default_values()
    return sorted(k for k, v in vars(defaults).items() if vars(base).get(k) != v)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "tables":
        result: object = tables()
    elif mode == "resolve":
        result = resolve(json.load(sys.stdin))
    else:
        result = env(json.load(sys.stdin))
    json.dump(result, sys.stdout)
