"""Where the checkout is, and which revision of it is running."""
import subprocess
from pathlib import Path

#: The repository root (experiments/, results/ and cache/ live under it).
REPO = Path(__file__).resolve().parent.parent.parent


def git_revision(repo=REPO, short=False):
    """``HEAD``'s hash, ``-dirty`` appended when the tree has changes;
    'unknown' outside a git checkout."""
    try:
        rev = subprocess.run(
            ['git', 'rev-parse'] + (['--short'] if short else []) + ['HEAD'],
            cwd=repo, capture_output=True, text=True, check=True)
        dirty = subprocess.run(['git', 'status', '--porcelain'], cwd=repo,
                               capture_output=True, text=True).stdout.strip()
        return rev.stdout.strip() + ('-dirty' if dirty else '')
    except Exception:
        return 'unknown'
