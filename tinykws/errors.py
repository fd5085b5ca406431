"""One exception type for user-facing errors.

Why one type: the CLI turns it into a single line `tinykws: error: <message>` and exit code 2,
so every bad input (missing file, unknown language, corrupt audio, full disk) reads the same way
and never shows a traceback. The message must name the file or argument and what is wrong.
"""


class TinyKWSError(Exception):
    """A user-facing error: bad input, missing data, or an environment problem."""
