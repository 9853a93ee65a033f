"""Removing what a killed writer left behind, never what a live one holds.

A writer (feature cache entry, generated corpus) works in a temp file or
folder and holds an flock on it until it renames it into place; a temp
path nobody holds locked belongs to a writer that was killed.
"""
import fcntl
import os


def remove_abandoned(paths, remove):
    """``remove(path)`` for each of ``paths`` no live process holds an
    flock on; the check and the removal happen under our own lock."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its writer is still running
        else:
            try:
                remove(path)
            except OSError:
                pass
        finally:
            os.close(fd)
