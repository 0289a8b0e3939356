"""Which program a command line really starts, and which reader checks it.

``wrap`` sees the command as typed. pip can hide behind ``env``, ``sudo``, ``nice``,
``python -Im pip``, ``sh -c "..."`` or a shell function; each launcher is unwrapped here
by its own option grammar and the program inside is checked. What cannot be unwrapped
(a script we cannot parse, arguments ``xargs`` will add from stdin) is refused when it
could start an installer or carries anything that looks like a package source.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence

from pipwrap.guard import scrub
from pipwrap.guard.context import Context

_PIP = re.compile(r"pip(\d+(\.\d+)*)?|pip-\d+(\.\d+)*")
_PYTHON = re.compile(r"(python|pypy)(\d+(\.\d+)*)?[tmd]?(-dbg)?|py")
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "busybox"})
INSTALLERS = frozenset({"pipx", "pip-compile", "pip-sync", "pdm", "poetry", "hatch", "tox",
                        "twine"})
_MODULES = {"uv": "uv", "pipx": "pipx", "pdm": "pdm", "poetry": "poetry", "hatch": "hatch",
            "tox": "tox", "twine": "twine"}
_PIPTOOLS_COMMANDS = {"compile": "pip-compile", "sync": "pip-sync"}

# Launchers: options that take a value (short letters, long names); after the options
# comes the command. ``None`` as a grammar means "the command follows at once".
_LAUNCHERS: dict[str, tuple[str, frozenset[str]]] = {
    "env": ("uCS", frozenset({"--unset", "--chdir", "--split-string", "--default-signal",
                              "--ignore-signal", "--block-signal"})),
    "command": ("", frozenset()),
    "builtin": ("", frozenset()),
    "exec": ("a", frozenset()),
    "nice": ("n", frozenset({"--adjustment"})),
    "nohup": ("", frozenset()),
    "time": ("fo", frozenset({"--format", "--output"})),
    "sudo": ("ughpUCDrtTRc", frozenset({"--user", "--group", "--host", "--prompt",
                                       "--other-user", "--close-from", "--chdir", "--role",
                                       "--type", "--command-timeout", "--chroot",
                                       "--login-class"})),
    "doas": ("uC", frozenset()),
    "stdbuf": ("ioe", frozenset({"--input", "--output", "--error"})),
    "timeout": ("sk", frozenset({"--signal", "--kill-after"})),
    "ionice": ("cnp", frozenset({"--class", "--classdata", "--pid"})),
    "chrt": ("", frozenset()),
    "taskset": ("", frozenset()),
    "setsid": ("", frozenset()),
    "nocache": ("", frozenset()),
    "unbuffer": ("", frozenset()),
    # zsh precommand modifiers, which zsh honours even when they come from "$@".
    "noglob": ("", frozenset()),
    "nocorrect": ("", frozenset()),
    "-": ("", frozenset()),
    "flock": ("wEc", frozenset({"--timeout", "--conflict-exit-code", "--command"})),
}
LAUNCHER_NAMES = frozenset(_LAUNCHERS)
# Launchers whose first positional is not the command (timeout's DURATION, flock's FILE,
# taskset's MASK, chrt's PRIORITY).
_LEADING_POSITIONALS = {"timeout": 1, "flock": 1, "taskset": 1, "chrt": 1}
_SHELL_KEYWORDS = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!",
                             "{", "}", "(", ")", "time", "begin", "and", "or", "not"})
_ARGS_MARK = "__pipwrap_function_arguments__"
MAX_DEPTH = 8

SOURCE_WORDS = ("index", "find-links", "trusted-host", "insecure-host", "pypi-url",
                 "repository-url")
SOURCE_LONGS = ("--index-url", "--extra-index-url", "--find-links", "--trusted-host",
                 "--pypi-url", "--default-index", "--allow-insecure-host", "--index-strategy")


def program_name(command: str) -> str:
    name = command.replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-4] if name.lower().endswith(".exe") else name


def looks_like_source(tokens: Sequence[str]) -> str | None:
    """The first word that could give a second package source to some installer, for
    commands pipwrap cannot read exactly."""
    for index, token in enumerate(tokens):
        for word in token.split():
            name = word.split("=", 1)[0].lower()
            if name.startswith("--") and (
                any(w in name for w in SOURCE_WORDS)
                or (len(name) >= 5 and any(o.startswith(name) for o in SOURCE_LONGS))
            ):
                return word
        if token in ("-i", "-f") and index + 1 < len(tokens) and (
            "://" in tokens[index + 1] or (token == "-f" and os.path.isdir(tokens[index + 1]))
        ):
            return f"{token} {tokens[index + 1]}"
        if re.match(r"^-[if]\S*://", token):
            return token
    return None


def check_argv(argv: Sequence[str], ctx: Context, depth: int = 0,
               function_body: str | None = None) -> None:
    """Refuse ``argv`` if the program it starts could take a second package source."""
    if not argv:
        return
    if depth > MAX_DEPTH:
        ctx.refuse("command line", " ".join(argv), "nests launchers too deeply to check")
    if function_body is not None:
        _function(argv, function_body, ctx, depth)
        return
    name = program_name(argv[0])
    args = list(argv[1:])
    lowered = name.lower()
    if _PIP.fullmatch(lowered):
        note_interpreter_of(argv[0], ctx)
        from pipwrap.guard import pip

        pip.check_args(args, ctx, program=name)
    elif _PYTHON.fullmatch(lowered):
        _python(argv[0], args, ctx, depth)
    elif lowered in ("uv", "uvx"):
        _uv(lowered, args, ctx)
    elif lowered in INSTALLERS:
        _installer(lowered, args, ctx)
    elif lowered in _LAUNCHERS:
        _launcher(lowered, args, ctx, depth)
    elif lowered == "xargs":
        _xargs(args, ctx, depth)
    elif lowered in SHELLS:
        _shell(lowered, args, ctx, depth)
    elif lowered == "eval":
        check_script(" ".join(args), ctx, depth + 1, "eval")
    else:
        _unknown(argv, ctx, depth)


# Programs that print or test and start nothing: their arguments are only text.
INERT = frozenset({"echo", "printf", "printenv", "true", "false", "test", "[", "cat",
                    "ls", "grep", "which", "type", "pwd", "date", "wc"})


def _unknown(argv: Sequence[str], ctx: Context, depth: int = 0) -> None:
    if program_name(argv[0]) in INERT:
        return
    script = _shell_script_text(argv[0], ctx)
    if script is not None:
        check_script(script, ctx, depth + 1, argv[0], list(argv))
    found = looks_like_source(argv[1:])
    if found is not None:
        ctx.refuse("command line", found, f"looks like a package source given to "
                   f"{program_name(argv[0])}, a program pipwrap cannot read exactly")


_SHELL_SHEBANG = re.compile(rb"^#!\s*\S*?/(?:env\s+)?(?:ba|z|da|k|mk)?sh\b")


def _shell_script_text(command: str, ctx: Context) -> str | None:
    """The text of a shell script the command runs (``./install.sh`` with a shell
    shebang), so the installers it calls are checked like typed ones; None otherwise."""
    path = command if "/" in command else _which(command, ctx.environ.get("PATH", ""))
    if path is None or not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(256 * 1024)
    except OSError:
        return None
    # An executable text file without a `#!` line is run by the calling shell itself
    # (execve fails with ENOEXEC and bash, zsh and fish fall back to sh): a shell script.
    no_interpreter = not head.startswith(b"#!") and b"\0" not in head[:1024] \
        and os.access(path, os.X_OK)
    if not _SHELL_SHEBANG.match(head) and not path.endswith(".sh") and not no_interpreter:
        return None
    return head.decode("utf-8", errors="replace").replace('"$@"', _ARGS_MARK)


def _uv(program: str, args: list[str], ctx: Context) -> None:
    from pipwrap.guard import uv

    uv.check(program, args, ctx)


def _installer(program: str, args: list[str], ctx: Context) -> None:
    from pipwrap.guard import installers

    installers.check(program, args, ctx)


def _which(command: str, path: str) -> str | None:
    """shutil.which without importing shutil (it costs more than this whole lookup)."""
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or ".", command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def note_interpreter_of(command: str, ctx: Context) -> None:
    """Remember the prefix of the interpreter that will run pip: pip reads that prefix's
    own pip.conf (the "site" layer), which may name constraint files."""
    found = command if "/" in command else _which(command, ctx.environ.get("PATH", ""))
    if not found:
        return
    bindir = os.path.dirname(os.path.abspath(found))
    candidates = [os.path.dirname(bindir), bindir]
    try:
        with open(found, "rb") as handle:
            first = handle.readline(512)
        if first.startswith(b"#!"):
            interpreter = first[2:].split()[0].decode(errors="replace") if first[2:].split() \
                else ""
            if interpreter.startswith("/"):
                candidates.insert(0, os.path.dirname(os.path.dirname(interpreter)))
    except OSError:
        pass
    for prefix in candidates:
        if os.path.exists(os.path.join(prefix, "pyvenv.cfg")):
            ctx.prefixes.append(prefix)
            return
    real = os.path.realpath(found)
    ctx.prefixes.append(os.path.dirname(os.path.dirname(real)))


# CPython's own options (getopt style): these take a value, every other letter is a flag.
_PYTHON_VALUE_LETTERS = "cmWX"


def _python(command: str, args: list[str], ctx: Context, depth: int) -> None:
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if token == "--check-hash-based-pycs":
            index += 1
            continue
        if token in ("--help", "--version", "--help-env", "--help-xoptions", "--help-all"):
            return
        if re.fullmatch(r"-\d+(\.\d+)?(-\d+)?", token):  # the py launcher's -3.12
            continue
        if token == "-" or not token.startswith("-"):
            # A script (or stdin): a pip entry script is pip; anything else is unknown.
            script = [token, *args[index:]]
            if token != "-" and _PIP.fullmatch(program_name(token).lower()):
                check_argv(script, ctx, depth + 1)
            else:
                _unknown([command, *script], ctx)
            return
        if token == "--":
            continue
        for offset, letter in enumerate(token[1:], start=2):
            if letter not in _PYTHON_VALUE_LETTERS:
                continue
            value = token[offset:]
            if not value:
                value = args[index] if index < len(args) else ""
                index += 1
            if letter == "m":
                note_interpreter_of(command, ctx)
                _module(value, args[index:], ctx, depth)
                return
            if letter == "c":
                _python_code(value, args[index:], ctx)
                return
            break
    return


def _module(module: str, args: list[str], ctx: Context, depth: int) -> None:
    top = module.split(".")[0].lower()
    if top == "pip":
        from pipwrap.guard import pip

        pip.check_args(args, ctx, program=f"python -m {module}")
    elif top == "piptools":
        program = _PIPTOOLS_COMMANDS.get(args[0] if args else "", "pip-compile")
        _installer(program, args[1:], ctx)
    elif top == "uv":
        _uv("uv", args, ctx)
    elif top in _MODULES:
        _installer(_MODULES[top], args, ctx)
    else:
        _unknown([f"python -m {module}", *args], ctx)


def _python_code(code: str, args: list[str], ctx: Context) -> None:
    """``python -c CODE``: refused when the code could run an installer with a source."""
    found = looks_like_source([*code.split(), *args]) or (
        match.group(0) if (match := re.search(r"index|find.links|trusted|insecure", code,
                                              re.IGNORECASE)) else None)
    if found is not None and re.search(r"\b(pip|uv|subprocess|os\.system|os\.exec\w*)\b",
                                       code):
        ctx.refuse("command line", found, "is given to an installer from Python code pipwrap "
                   "cannot read exactly")


_PAST_FENCE_WHY = ("it would send the command's downloads past pipwrap's fence (the proxy "
                   "that holds every request to the profile's index)")
_PAST_FENCE = "is set or unset for the command; " + _PAST_FENCE_WHY
_CLEARS_ENVIRONMENT = {"env": ("-i", "-", "--ignore-environment"), "exec": ("-c",)}


def _launcher(name: str, args: list[str], ctx: Context, depth: int) -> None:
    value_letters, value_longs = _LAUNCHERS[name]
    for position, token in enumerate(args):
        unset = None
        if name == "env" and token in ("-u", "--unset") and position + 1 < len(args):
            unset = args[position + 1]
        elif name == "env" and token.startswith(("--unset=", "-u")) and len(token) > 2:
            unset = token.split("=", 1)[1] if "=" in token else token[2:]
        if token in _CLEARS_ENVIRONMENT.get(name, ()) or (
                unset is not None and (unset.startswith(("PIP_", "UV_", "PDM_"))
                                       or unset in ("NETRC", "TWINE_REPOSITORY_URL"))):
            ctx.refuse("command line", f"{name} {token}", "takes away the environment that "
                       "makes the profile's index the only source")
        if unset is not None and scrub.routes_past_fence(unset):
            ctx.refuse("command line", f"{name} {token} {unset}" if token in ("-u", "--unset")
                       else f"{name} {token}", f"unsets {unset}; {_PAST_FENCE_WHY}")
        if not token.startswith("-"):
            break
    index = 0
    skip_positionals = _LEADING_POSITIONALS.get(name, 0)
    while index < len(args):
        token = args[index]
        if name == "env" and "=" in token and not token.startswith("-"):
            index += 1  # VAR=value: pip reads it too, but the scrub happens after env runs
            if scrub.assigns_source(token):
                ctx.refuse("command line", token.split("=", 1)[0],
                           "is set by env for the command; it would name a package source")
            if scrub.routes_past_fence(token.split("=", 1)[0]):
                ctx.refuse("command line", token.split("=", 1)[0], _PAST_FENCE)
            continue
        if token == "--":
            index += 1
            break
        if token.startswith("--"):
            index += 1
            if token.split("=", 1)[0] in value_longs and "=" not in token:
                index += 1
            if name == "env" and token.startswith(("--split-string", "--chdir")):
                ctx.refuse("command line", f"env {token}", "changes how the command is found; "
                           "pipwrap cannot check it. Run the program directly")
            continue
        numeric_nice = name == "nice" and token[1:].isdigit()
        if token.startswith("-") and len(token) > 1 and not numeric_nice:
            index += 1
            for offset, letter in enumerate(token[1:], start=2):
                if letter in value_letters:
                    if name == "env" and letter in "SC":
                        ctx.refuse("command line", f"env {token}", "changes how the command "
                                   "is found; pipwrap cannot check it. Run the program directly")
                    if name in ("sudo", "doas") and letter in "ih":
                        break
                    if offset == len(token):
                        index += 1
                    break
                if name in ("sudo", "doas") and letter in "is":
                    ctx.refuse("command line", f"{name} {token}", "starts a shell pipwrap "
                               "cannot see into")
            continue
        if name == "nice" and token.startswith("-"):
            index += 1
            continue
        if skip_positionals:
            skip_positionals -= 1
            index += 1
            continue
        break
    if name in ("sudo", "doas") and starts_installer(args[index:]):
        ctx.refuse("command line", f"{name} {program_name(args[index])}", "resets the "
                   "environment, so the profile's index would not reach the installer; run "
                   f"it as `{name} pipwrap run -- ...` instead")
    check_argv(args[index:], ctx, depth + 1)


def starts_installer(argv: Sequence[str]) -> bool:
    """Whether ``argv`` (after any launchers) could start an installer or a shell."""
    if not argv:
        return False
    name = program_name(argv[0]).lower()
    return bool(name in _LAUNCHERS or name in SHELLS or name in INSTALLERS
                or _PIP.fullmatch(name) or _PYTHON.fullmatch(name)
                or name in ("uv", "uvx", "xargs", "eval"))


def _xargs(args: list[str], ctx: Context, depth: int) -> None:
    value_letters = "EeIiLlnsPadR"
    index = 0
    while index < len(args) and args[index].startswith("-"):
        token = args[index]
        index += 1
        if token == "--":
            break
        if not token.startswith("--") and token[-1:] in value_letters and len(token) == 2 \
                and token[1] in "EILnsPadR":
            index += 1
    command = args[index:] or ["echo"]
    if starts_installer(command):
        ctx.refuse("command line", f"xargs {command[0]}", "adds arguments from its input "
                   "that pipwrap cannot see; run the installer directly")
    check_argv(command, ctx, depth + 1)


# Shell options that take the next word as their value (so it is not the script file).
_SHELL_VALUE_OPTIONS = frozenset({"-O", "+O", "-o", "+o", "--rcfile", "--init-file",
                                  "--init-command", "-C", "--debug-output",
                                  "--features", "--profile"})


def _shell(name: str, args: list[str], ctx: Context, depth: int) -> None:
    """``sh [OPTIONS] -c SCRIPT [ARGS]`` or ``sh [OPTIONS] FILE [ARGS]``: options stop at
    the first word that is not one, as the shells parse them."""
    index = 0
    while index < len(args):
        token = args[index]
        if token in ("-c", "--command") or token.startswith("--command=") or (
                token.startswith("-") and not token.startswith("--") and "c" in token[1:]):
            if "=" in token:
                script, rest = token.split("=", 1)[1], args[index + 1:]
            else:
                script = args[index + 1] if index + 1 < len(args) else ""
                rest = args[index + 2:]
            # Words after the script become its $0, $1, ...
            check_script(script, ctx, depth + 1, f"{name} -c", rest)
            return
        if token in _SHELL_VALUE_OPTIONS:
            index += 2
            continue
        if token == "--" or not token.startswith(("-", "+")):
            position = index + 1 if token == "--" else index
            if position < len(args):
                # `sh FILE ARGS`: the file is the script.
                text = _shell_script_text(os.path.join(ctx.cwd, args[position]), ctx)
                if text is not None:
                    check_script(text, ctx, depth + 1, args[position], args[position:])
            break
        index += 1
    _unknown([name, *args], ctx, depth)


def split_script(script: str) -> list[list[str]] | None:
    """Simple commands of a shell script, or None when it cannot be read statically.

    Read a line at a time (a line with an open quote or a trailing backslash joins the
    next), so a ``#`` comment ends where the shell ends it, at the end of its line.
    """
    words: list[str] = []
    commands: list[list[str]] = []
    pending = ""
    for line in script.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        lexer = shlex.shlex(pending, posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:
            continue  # an open quote: the command goes on on the next line
        pending = ""
        for token in [*tokens, ";"]:
            if token and set(token) <= set(";&|()"):
                commands.append(words)
                words = []
            else:
                words.append(token)
    if pending:
        return None
    simple = []
    for words in commands:
        while words and (words[0] in _SHELL_KEYWORDS or re.match(r"^\w+=", words[0])):
            if "=" in words[0]:
                simple.append(["export", words[0]])  # VAR=value cmd: checked as a setting
            words = words[1:]
        if words:
            simple.append(words)
    return simple


# `unset` too: removing the variable pipwrap set (PIP_INDEX_URL, TWINE_REPOSITORY_URL)
# hands the choice back to config files or the tool's default (public PyPI for twine).
_SETTERS = frozenset({"export", "declare", "typeset", "local", "readonly", "set", "setenv",
                      "unset", "unsetenv"})


def _check_settings(words: Sequence[str], ctx: Context, what: str) -> None:
    """``export PIP_EXTRA_INDEX_URL=...`` (or fish's ``set -gx NAME VALUE``) inside a
    script puts a source back after pipwrap's scrub."""
    names = [w.split("=", 1)[0] for w in words[1:] if "=" in w]
    names += [w for w in words[1:] if re.fullmatch(r"(PIP|UV|PDM|TWINE)_\w+|NETRC", w)
              or (re.fullmatch(r"\w+", w) is not None and scrub.routes_past_fence(w))]
    for name in names:
        if scrub.routes_past_fence(name):
            ctx.refuse("command line", name, f"is set or unset inside {what}; {_PAST_FENCE_WHY}")
        if scrub.assigns_source(name + "="):
            ctx.refuse("command line", name, f"is set or unset inside {what}; it would "
                       "change the package source (or upload destination) pipwrap chose")


def check_script(script: str, ctx: Context, depth: int, what: str,
                 arguments: Sequence[str] = ()) -> None:
    # Positional parameters are known here (the words after `sh -c SCRIPT`, or a
    # function's arguments): put them in, quoted. Any other substitution makes the
    # commands unknowable before they run.
    script = _positional(script, arguments)
    dynamic = any(mark in script for mark in ("$(", "`", "${", "<(", ">(")) or bool(
        re.search(r"\$[0-9@*#]", script))
    commands = split_script(script)
    if commands is None or dynamic:
        found = looks_like_source([script, *arguments])
        if found is not None or re.search(r"\b(pip\d*|uvx?|pipx|pdm|poetry|twine|python\d*)\b",
                                          script):
            ctx.refuse("command line", f"{what} {script!r}", "is a script pipwrap cannot "
                       "read exactly, and it could run an installer")
        return
    from pipwrap.errors import RefusedError

    try:
        _check_commands(commands, ctx, depth, what, arguments)
    except RefusedError as exc:
        # Name the script the option was found in, not the command line.
        raise RefusedError(str(exc).replace("refused: command line:", f"refused: {what}:",
                                            1)) from None


def _positional(script: str, arguments: Sequence[str]) -> str:
    """``$0``..``$9``, ``${N}``, ``$@``, ``$*`` and ``$#`` replaced by the known words.

    ``arguments[0]`` is ``$0``. Quoted forms (``"$1"``, ``"$@"``) become shell-quoted
    words, so an argument with spaces stays one word, as the shell keeps it.
    """
    rest = [shlex.quote(a) for a in arguments[1:]]

    def word(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        if name in ("@", "*"):
            return " ".join(rest)
        if name == "#":
            return str(len(rest))
        index = int(name)
        return shlex.quote(arguments[index]) if index < len(arguments) else "''"

    pattern = r'"?\$(?:\{(?P<braced>[0-9@*#])\}|(?P<plain>[0-9@*#]))"?'
    return re.sub(pattern, word, script)


def _check_commands(commands: list[list[str]], ctx: Context, depth: int, what: str,
                    arguments: Sequence[str]) -> None:
    for words in commands:
        if words[0] in _SETTERS:
            _check_settings(words, ctx, what)
            continue
        if _ARGS_MARK in words:
            position = words.index(_ARGS_MARK)
            words = [*words[:position], *arguments[1:], *words[position + 1:]]
        if words and words[0].startswith("$"):
            found = looks_like_source([*words, *arguments])
            if found is not None:
                ctx.refuse("command line", found, f"is passed through {what}, which runs a "
                           "command pipwrap cannot name")
            continue
        check_argv(words, ctx, depth)


def _function(argv: Sequence[str], body: str, ctx: Context, depth: int) -> None:
    """A shell function (fish aliases are functions): check the commands in its body with
    the call's arguments put where the body passes them on."""
    text = body
    lines = text.strip().splitlines()
    if (lines and lines[0].lstrip().startswith("function ")) or any(
            line.strip() == "end" for line in lines[-1:]):
        # fish: `function NAME ...` ... `end`; drop comments and the frame.
        lines = [line for line in lines if not line.lstrip().startswith("#")]
        if lines and lines[0].lstrip().startswith("function "):
            lines = lines[1:]
        if lines and lines[-1].strip() == "end":
            lines = lines[:-1]
        text = "\n".join(lines)
    else:
        start, end = text.find("{"), text.rfind("}")
        text = text[start + 1:end] if 0 <= start < end else text
    for spelled in ('"$@"', "$@", '"$*"', "$*", '"${@}"', "${@}", "$argv"):
        text = text.replace(spelled, f" {_ARGS_MARK} ")
    check_script(text, ctx, depth + 1, f"function {argv[0]}", list(argv))
    found = looks_like_source(argv[1:])
    if found is not None and _ARGS_MARK not in text:
        ctx.refuse("command line", found, f"is given to the shell function {argv[0]}, "
                   "which pipwrap cannot read exactly")
