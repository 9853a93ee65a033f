"""A dependency-free progress bar for long loops outside the Trainer."""
import sys
import time


def progress(iterable, total=None, label='', stream=None):
    stream = stream or sys.stderr  # looked up per call (capture, redirects)
    total = len(iterable) if total is None else total
    start = time.time()
    last = 0.0
    for i, item in enumerate(iterable, start=1):
        yield item
        now = time.time()
        if now - last > 0.2 or i == total:
            last = now
            done = int(30 * i / max(total, 1))
            rate = i / max(now - start, 1e-9)
            eta = (total - i) / rate if rate else 0
            stream.write(f'\r{label} [{"#" * done}{"." * (30 - done)}] '
                         f'{i}/{total} {rate:.1f}/s eta {eta:.0f}s')
            stream.flush()
    if total:
        stream.write('\n')
