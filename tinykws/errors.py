"""One exception type for user-facing errors.

Why one type: the CLI turns it into a single line `tinykws: error: <message>` and exit code 2,
so every bad input (missing file, unknown language, corrupt audio, full disk) reads the same way
and never shows a traceback. The message must name the file or argument and what is wrong.
"""


class TinyKWSError(Exception):
    """A user-facing error: bad input, missing data, or an environment problem."""


DOCTOR = "tinykws doctor"


def missing_tool(tool: str, install: str) -> TinyKWSError:
    """The one-line error of a verb that needs a tool that is not installed.

    It names the tool, the command that installs it, and `tinykws doctor`, which checks every
    tool and extra at once (so a user fixing one missing tool learns about the others).
    """
    return TinyKWSError(f"{tool}: not installed; install it with `{install}` (or run `{DOCTOR}`)")
