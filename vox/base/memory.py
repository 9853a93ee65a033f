"""How much memory this process may still take, checked before allocating.

A size the user controls (a corpus, a count of crops, a model width, a
file's length and sample rate) is turned into the bytes it will need and
compared with what is available *before* the arrays exist: past that, a
NumPy allocation either fails with a traceback or succeeds and the machine
swaps until the kernel kills the process with nothing printed.

Available = the kernel's ``MemAvailable`` (free memory plus what it can
reclaim, /proc/meminfo), lowered to what ``ulimit -v`` (RLIMIT_AS) still
leaves this process.
"""
import os
import resource

from vox.base.errors import VoxError

GIB = 1 << 30


def _meminfo_available():
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # not Linux: free physical pages
        return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, AttributeError):
        return None


def _address_space_left():
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open('/proc/self/statm') as f:
            used = int(f.read().split()[0]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        used = 0
    return max(0, soft - used)


def available_bytes():
    """Bytes this process can still allocate (None: unknown)."""
    known = [b for b in (_meminfo_available(), _address_space_left())
             if b is not None]
    return min(known) if known else None


def check_fits(needed, what, advice, error=VoxError):
    """Raises ``error`` (a VoxError) when ``needed`` bytes (for ``what``)
    exceed what is available; ``advice`` says what to change."""
    available = available_bytes()
    if available is None or needed <= available:
        return
    raise error(f'{what} needs about {_size(needed)} of memory, '
                   f'{_size(available)} is available; {advice}')


def _size(n):
    if n >= 1000 * GIB:
        return f'{n / (1024 * GIB):.3g} TiB'
    return f'{n / GIB:.3g} GiB' if n >= GIB / 10 else f'{n / (1 << 20):.3g} MiB'
