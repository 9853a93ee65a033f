"""The one exception type the command line turns into a one-line message."""


class VoxError(Exception):
    """A problem the user can fix; the message says what to do."""
