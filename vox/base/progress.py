"""A dependency-free progress bar for long loops outside the Trainer.

On a terminal the bar is one line redrawn in place (``\\r``) at most every
``TTY_INTERVAL`` seconds.  Anywhere else (a file, a pipe: CI, ``nohup``,
``tee``) every ``\\r`` would become a line of the log, so the bar writes a
whole line at most every ``LOG_INTERVAL`` seconds, plus its final line.

A bar whose line is still open when its loop ends early (an exception,
``break``) ends it with a newline, and :func:`end_open_lines` does the same
for every bar before the command line prints an error, so an error never
lands on the end of a bar (``... eta 0svox: error: ...``).
"""
import sys
import time

TTY_INTERVAL = 0.2
LOG_INTERVAL = 10.0

#: Streams with a bar's line written without its newline: {id: stream}.
_open_lines = {}


def is_terminal(stream):
    """Does ``stream`` say it is a terminal (False when it cannot say)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def end_open_lines():
    """Ends (newline) every bar line left open, e.g. before an error."""
    for stream in list(_open_lines.values()):
        try:
            stream.write('\n')
            stream.flush()
        except (OSError, ValueError):  # the stream is gone: nothing to end
            pass
    _open_lines.clear()


def progress(iterable, total=None, label='', stream=None, clock=None,
             terminal=None):
    """Yields ``iterable``'s items, drawing a bar on ``stream`` (stderr).

    ``clock`` (default ``time.monotonic``) and ``terminal`` (default: does
    ``stream`` say it is a tty) are for tests.
    """
    stream = stream or sys.stderr  # looked up per call (capture, redirects)
    clock = clock or time.monotonic
    tty = is_terminal(stream) if terminal is None else terminal
    interval = TTY_INTERVAL if tty else LOG_INTERVAL
    total = len(iterable) if total is None else total
    start = clock()
    last = None         # when the last line was drawn
    shown = 0           # the count it showed
    i = 0

    def draw(now):
        done = int(30 * i / max(total, 1))
        rate = i / max(now - start, 1e-9)
        eta = (total - i) / rate if rate else 0
        text = (f'{label} [{"#" * done}{"." * (30 - done)}] '
                f'{i}/{total} {rate:.1f}/s eta {eta:.0f}s')
        if tty:
            stream.write('\r' + text)
            _open_lines[id(stream)] = stream
        else:
            stream.write(text + '\n')
        stream.flush()

    try:
        for i, item in enumerate(iterable, start=1):
            yield item
            now = clock()
            if last is None or i == total or now - last > interval:
                last, shown = now, i
                draw(now)
        if not tty and i and shown != i:    # the final line
            draw(clock())
    finally:
        if tty and total and _open_lines.pop(id(stream), None) is not None:
            stream.write('\n')
            stream.flush()


class LineProgress:
    """A bar's non-terminal form for a loop driven from outside (a
    Trainer's iterations): :meth:`update` writes a whole line at most every
    ``LOG_INTERVAL`` seconds, the first and the last (``done >= 1``)
    always."""

    def __init__(self, label, stream=None, clock=None):
        self.label = label
        self.stream = stream
        self.clock = clock or time.monotonic
        self.start = self.last = None

    def update(self, i, done, detail=''):
        """``i`` steps so far, ``done`` the fraction of the whole."""
        now = self.clock()
        if self.start is None:
            self.start = now
        if self.last is not None and done < 1 and \
                now - self.last <= LOG_INTERVAL:
            return
        self.last = now
        elapsed = now - self.start
        rate = f', {i / elapsed:.2f}/s' if elapsed > 0 else ''
        eta = f', eta {elapsed * (1 - done) / done:.0f}s' \
            if elapsed > 0 and 0 < done < 1 else ''
        stream = self.stream or sys.stdout
        stream.write(f'{self.label} {i}{detail}{rate}{eta}\n')
        stream.flush()
