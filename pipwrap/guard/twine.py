"""twine: uploads go to the profile's ``upload-url``, and nowhere else.

For an upload the danger runs the other way: not a second source coming in, but private
distributions going out, to the public index by default. So ``twine upload`` under wrap
needs a profile with an ``upload-url`` (wrap sets ``TWINE_REPOSITORY_URL`` from it), and
every option that names another destination is refused: ``--repository-url`` (unless it
is the profile's own upload URL), ``-r/--repository`` (a ~/.pypirc entry) and
``--config-file``, in any spelling argparse accepts (unique prefixes, ``--opt=value``,
``-rNAME``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from pipwrap.guard.context import Context

_DESTINATIONS = ("--repository", "--repository-url", "--config-file")
_SENDING = frozenset({"upload", "register"})
# The second line of a twine refusal: each reason already says what to do.
_UPLOADS_ONLY = "wrap sends uploads to the profile's upload-url and nowhere else."


def check(args: Sequence[str], ctx: Context) -> None:
    command = next((a for a in args if not a.startswith("-")), None)
    if command not in _SENDING:
        return  # `twine check`, --version, --help: nothing leaves the machine
    # No stop at `--`: twine's top-level parser drops a `--` before the subcommand and the
    # options after it still count. A file named like an option is refused; rename it.
    for index, arg in enumerate(args):
        name, eq, inline = arg.partition("=")
        matches = [option for option in _DESTINATIONS if option.startswith(name)]
        if name.startswith("--") and len(name) > 2 and matches:
            # argparse: an exact name wins, else a unique prefix (an ambiguous one is
            # argparse's own error). The profile's own upload URL is no other destination.
            option = name if name in matches else matches[0] if len(matches) == 1 else None
            value = inline if eq else (args[index + 1] if index + 1 < len(args) else None)
            if option == "--repository-url" and ctx.is_upload_url(value):
                continue
            ctx.refuse("command line", arg, "names an upload destination; wrap uploads to "
                       "the profile's upload-url only, so give that URL or none",
                       _UPLOADS_ONLY)
        if arg.startswith("-r") and not arg.startswith("--"):
            ctx.refuse("command line", arg, "names a ~/.pypirc repository; wrap uploads to "
                       "the profile's upload-url only", _UPLOADS_ONLY)
    if not ctx.upload_url:
        name = ctx.profile or "NAME"
        profile = f"profile {ctx.profile!r}" if ctx.profile else "the profile"
        ctx.refuse("command line", f"twine {command}",
                   f"with {profile}, which has no upload-url, would send your distributions "
                   f"to the public index; give it one with: pipwrap set-url {name} "
                   "--upload-url URL (or run twine without wrap)", how="")
