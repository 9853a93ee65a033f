"""``vox evaluate --balanced``: the snapshot where conversion and content
are best balanced, from the scores a ``vox run --judge`` run logged at
every snapshot (vox.extensions.quality_curve).

Both figures lie on the same scale (0 = chance / floor, 1 = the judge on
real speech / the copy synthesis), so the balance of a snapshot is the
smaller of the two: a snapshot that converts without keeping the words,
or keeps the words without converting, scores low.
"""
import json
from pathlib import Path

from vox.base.errors import VoxError
from vox.training.store import SNAPSHOT_RE, snapshots

JUDGE, KEPT = 'quality/judge', 'quality/content_kept'


def balanced_snapshot(run_dir):
    """(snapshot path, one sentence saying why) of the kept snapshot with
    the highest min(judge, content kept) logged at its iteration."""
    try:
        with open(Path(run_dir) / 'log') as f:
            log = json.load(f)
    except (OSError, ValueError):
        log = []
    scored = {e['iteration']: e for e in log if JUDGE in e and KEPT in e}
    candidates = []
    for path in snapshots(run_dir):
        entry = scored.get(int(SNAPSHOT_RE.search(path.name).group(1)))
        if entry is not None:
            candidates.append((min(entry[JUDGE], entry[KEPT]),
                               entry['iteration'], path, entry))
    if not candidates:
        raise VoxError(f'{run_dir}: no kept snapshot has quality scores in '
                       f'the log; train with `vox run ID --judge '
                       f'CLASSIFIER_RUN` (or evaluate one snapshot)')
    balance, _, path, e = max(candidates, key=lambda c: (c[0], c[1]))
    return path, (f"{path.name} (epoch {e.get('epoch')}): judge "
                  f"{e[JUDGE]:.2f}, content kept {e[KEPT]:.2f}; the best "
                  f"balanced (highest min of the two, {balance:.2f}) of "
                  f"{len(candidates)} scored snapshot(s)")
