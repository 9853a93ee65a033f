"""What a path given on the command line or in a manifest really is.

Every message says what the path is, so "does not exist" is said only of
paths that do not exist: a folder, a symbolic link loop or a special file
each get their own words.  Outputs are checked before any work is done:
never the input itself (by resolved path or inode), never a folder, never
in a folder that cannot be written.
"""
import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from vox.base.errors import VoxError


def resolved(path):
    """``path`` made absolute with its links resolved where they resolve
    (a symbolic link loop is left as it is, not raised)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a loop, Python < 3.13
        return Path(os.path.abspath(path))


def not_a_file(path):
    """Why ``path`` is not a regular file one can read, or None if it is."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ('is a broken symbolic link' if os.path.islink(path)
                else 'does not exist')
    except OSError as e:
        if e.errno == errno.ELOOP:
            return 'is a symbolic link loop'
        if e.errno == errno.ENOTDIR:
            return 'does not exist (a parent is a file, not a folder)'
        return f'cannot be read ({e.strerror})'
    if stat.S_ISDIR(st.st_mode):
        return 'is a folder, not a file'
    if not stat.S_ISREG(st.st_mode):
        return 'is not a regular file'
    return None


class NotAFile(VoxError, OSError):
    """A path that names no regular file (a FIFO, a device, a folder);
    an OSError too, so a reader's own ``except OSError`` still catches it."""

    def __init__(self, path, problem):
        VoxError.__init__(self, path, problem)
        self.filename = str(path)
        self.strerror = problem
        self.problem = problem

    def __str__(self):
        return f'{printable(self.filename)} {self.problem}'


def open_regular(path, mode='r', **kwargs):
    """``open(path, mode)`` for reading, refusing (:class:`NotAFile`) what is
    not a regular file before anything is read from it.  The file is opened
    non-blocking and checked by its descriptor: a FIFO with no writer
    would block a plain ``open`` forever, and a check by name before
    opening could be raced."""
    if any(c in mode for c in 'wax+'):
        raise ValueError(f'open_regular reads; got mode {mode!r}')
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except IsADirectoryError:
        raise NotAFile(path, 'is a folder, not a file') from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotAFile(path, 'is a folder, not a file'
                           if stat.S_ISDIR(st.st_mode)
                           else 'is not a regular file (a FIFO, socket or '
                                'device)')
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def read_text(path, encoding='utf-8', errors='strict', limit=None):
    """A regular file's text (:func:`open_regular`); ``limit``: the most
    bytes worth reading, larger files are refused unread."""
    with open_regular(path, 'rb') as f:
        size = os.fstat(f.fileno()).st_size
        if limit is not None and size > limit:
            raise VoxError(f'{printable(path)}: {size} bytes, more than the '
                           f'{limit} a file of this kind can sensibly hold; '
                           f'give the right file')
        return f.read().decode(encoding, errors)


def printable(path):
    """``str(path)`` that can be written anywhere: bytes of a file name that
    are not valid UTF-8 are shown as ``\\xNN``."""
    return os.fsencode(str(path)).decode('utf-8', 'backslashreplace')


def is_utf8_name(path):
    try:
        str(path).encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


def same_file(a, b):
    """Whether ``a`` and ``b`` name the same file (inode or resolved path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return resolved(a) == resolved(b)


def check_output_file(output, inputs=(), flag='--output', create=False):
    """Refuses, in one line, an output file that is one of ``inputs``, is a
    folder, or lies in a folder that does not exist (unless ``create``: it
    is created) or cannot be written."""
    out = Path(output)
    for given in inputs:
        if given is not None and same_file(given, out):
            raise VoxError(f'{flag} {output} is the input {given}; writing it '
                           f'would destroy the source; give another {flag}')
    if out.is_dir():
        raise VoxError(f'{flag} {output}: is a folder; give a file name, '
                       f'e.g. {out / "out.wav"}')
    parent = out.parent
    if create and not parent.exists():
        try:
            parent.mkdir(parents=True)
        except OSError as e:
            raise VoxError(f'{flag} {output}: cannot create the folder '
                           f'{parent} ({e.strerror}); give another '
                           f'{flag}') from None
    if not parent.is_dir():
        raise VoxError(f'{flag} {output}: the folder {parent} does not '
                       f'exist; create it or give another {flag}')
    if not os.access(parent, os.W_OK) or (out.exists() and
                                          not os.access(out, os.W_OK)):
        raise VoxError(f'{flag} {output}: not writable (read-only disk or '
                       f'no permission); give another {flag}')
    return out


#: The file vox writes into each folder it creates for its output, naming
#: what made it ("vox run", "vox compare"): a command writes into an
#: existing folder only when it is empty or this file names the same maker,
#: so a user's own folder, or another command's, is never written over.
MARKER = '.vox-made'


def made_by(folder):
    """What the folder's :data:`MARKER` names, or None."""
    try:
        return (Path(folder) / MARKER).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def foreign_files(folder):
    """A few names of what ``folder`` holds (for a refusal), [] if empty."""
    try:
        return sorted(p.name for p in Path(folder).iterdir())[:3]
    except OSError:
        return []


def claim_folder(folder, maker, flag):
    """Creates ``folder`` for ``maker`` (writing :data:`MARKER`), or accepts
    an existing one that is empty or that ``maker`` made; refuses, in one
    line and before anything is written, any other folder or a file."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise VoxError(f'{flag} {folder}: is a file, not a folder; give a '
                       f'new folder')
    names = foreign_files(folder)
    if names and made_by(folder) != maker:
        raise VoxError(f'{flag} {folder}: a folder vox did not make for '
                       f'this (it holds {", ".join(names)}); nothing was '
                       f'written; give a new or empty folder')
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not names:
            (folder / MARKER).write_text(maker + '\n')
    except OSError as e:
        raise VoxError(f'{flag} {folder}: cannot create it ({e.strerror}); '
                       f'give another {flag}') from None
    return folder


def check_may_overwrite(path, header, flag='--out'):
    """Refuses an existing ``path`` that does not begin with ``header``
    (bytes), the first line every file of that kind vox writes begins
    with: what is there was not written by this command."""
    path = Path(path)
    if not path.exists() or path.is_dir():
        return path
    ours = False
    if not_a_file(path) is None:  # never open a FIFO: it would block
        try:
            with open(path, 'rb') as f:
                ours = f.read(len(header)) == header
        except OSError:
            pass
    if not ours:
        raise VoxError(f'{flag} {path}: exists and was not written by this '
                       f'command; nothing was written; give a new file name '
                       f'(or delete it first)')
    return path


@contextlib.contextmanager
def replaced_atomically(path):
    """A temporary path beside ``path`` to write to; renamed over ``path``
    when the block ends, removed if it fails, so a reader never sees a
    half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.',
                               suffix='.tmp')
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
