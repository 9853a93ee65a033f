"""The one exception type the command line turns into a one-line message."""


class VoxError(Exception):
    """A problem the user can fix; the message says what to do."""


class Stopped(VoxError):
    """A run stopped on request (SIGINT, SIGTERM) after saving its state:
    not finished, so the command exits with ``exit_code`` (128 + the signal,
    as a shell reports a process killed by it), not 0."""

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code
