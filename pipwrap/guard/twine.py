"""twine: uploads go to the profile's ``upload-url``, and nowhere else.

For an upload the danger runs the other way: not a second source coming in, but private
distributions going out, to the public index by default. So ``twine upload`` under wrap
needs a profile with an ``upload-url`` (wrap sets ``TWINE_REPOSITORY_URL`` from it), and
every option that names another destination is refused: ``--repository-url``,
``-r/--repository`` (a ~/.pypirc entry) and ``--config-file``, in any spelling argparse
accepts (unique prefixes, ``--opt=value``, ``-rNAME``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from pipwrap.guard.context import Context

_DESTINATIONS = ("--repository", "--repository-url", "--config-file")
_SENDING = frozenset({"upload", "register"})


def check(args: Sequence[str], ctx: Context) -> None:
    command = next((a for a in args if not a.startswith("-")), None)
    if command not in _SENDING:
        return  # `twine check`, --version, --help: nothing leaves the machine
    # No stop at `--`: twine's top-level parser drops a `--` before the subcommand and the
    # options after it still count. A file named like an option is refused; rename it.
    for arg in args:
        name = arg.split("=", 1)[0]
        if name.startswith("--") and len(name) > 2 and any(
                option.startswith(name) for option in _DESTINATIONS):
            ctx.refuse("command line", arg, "names an upload destination; wrap uploads to "
                       "the profile's upload-url only")
        if arg.startswith("-r") and not arg.startswith("--"):
            ctx.refuse("command line", arg, "names a ~/.pypirc repository; wrap uploads to "
                       "the profile's upload-url only")
    if not ctx.upload_url:
        ctx.refuse("command line", f"twine {command}",
                   "the profile has no upload-url, so twine would upload to the public "
                   "index; add one (pipwrap edit: upload-url = \"https://...\") or run twine "
                   "without wrap")
