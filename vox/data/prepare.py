"""``vox prepare``: read a corpus, check every file, cache its features.

One pass over the corpus that does what training would do lazily, in
parallel, and says what it found:

* the corpus is read by :mod:`vox.data.corpus.readers` (``kind:path`` or an
  auto-detected path); metadata problems (rows naming missing files, audio
  without metadata, a speaker with two sexes) are reported, not fatal;
* every audio file goes through :func:`vox.data.audio.load_checked`, the
  single validator that feature loading during training uses too;
* features land in the same per-file cache training reads
  (``<cache>/features/<key>.npz``), written atomically, so an interrupted
  prepare resumes where it stopped and training rebuilds only what changed;
* work runs over ``jobs`` processes, one file per task, and each worker
  writes its own cache entry and sends back only a short summary, so memory
  stays bounded by a few files at a time;
* a report (counts per speaker / birthplace / sex, skipped files with the
  reason, warnings, then a per-speaker table of files found, usable, too
  short, rejected and the labels, and what the reader could not place,
  grouped by kind and folder) goes to the terminal and to
  ``<cache>/prepare-report.txt`` and ``.json``.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from vox.base.errors import VoxError
from vox.base.files import replaced_atomically
from vox.base.labels import GROUPS
from vox.base.progress import progress
from vox.config import CorpusConfig
from vox.data import audio, features
from vox.data.corpus import readers
from vox.data.corpus.listing import grouped_lines
from vox.data.corpus.manifest import read_manifest
from vox.data.sources import resolve_corpus

# --- workers -----------------------------------------------------------------

def _work(task):
    """Worker: validate + extract + write one cache entry; return a summary."""
    path, file = task
    try:
        mag, voiced, notes = features.extract(path)
    except audio.AudioError as e:
        return {'path': path, 'status': 'skipped', 'reason': str(e)}
    except Exception as e:  # never let one file stop the corpus
        return {'path': path, 'status': 'skipped',
                'reason': f'{path}: unexpected error {type(e).__name__}: {e}; '
                          f'please report it'}
    features.save_entry(Path(file), mag, voiced, notes)
    return {'path': path, 'status': 'prepared', 'frames': int(mag.shape[0]),
            'notes': list(notes)}


def _cached_summary(path, file):
    try:
        with np.load(file) as z:
            notes = [str(n) for n in z['notes']] if 'notes' in z else []
            return {'path': path, 'status': 'cached',
                    'frames': int(z['magnitude'].shape[0]), 'notes': notes}
    except Exception:  # a damaged entry is rebuilt
        return None


def _atomic_text(path, text):
    with replaced_atomically(path) as tmp:
        # backslashreplace: a file name that is not UTF-8 shows as \udcNN
        # instead of failing the whole report
        with open(tmp, 'w', encoding='utf-8',
                  errors='backslashreplace') as f:
            f.write(text)


# --- the command -------------------------------------------------------------

def prepare(spec, cache_dir, *, jobs=None, crop_frames=64, verbose=False,
            stream=None, out=None, **reader_options):
    """Prepare the corpus ``spec``; return the report dict.

    Raises VoxError (one line) when nothing usable was prepared.
    """
    stream = stream or sys.stderr
    out = out or sys.stdout
    start = time.time()
    if readers.split_spec(spec)[0] == 'synth':  # the faithful default one
        listing = readers.Listing('synth', Path('synth'))
        listing.utterances = read_manifest(
            resolve_corpus('synth', CorpusConfig(), seed=0))
    else:
        listing = readers.read_corpus(
            spec, segments_dir=Path(cache_dir) / 'segments', **reader_options)
    utts = listing.utterances
    cache_dir = Path(cache_dir)
    (cache_dir / 'features').mkdir(parents=True, exist_ok=True)
    features.clean_stale_temps(cache_dir / 'features')

    results, todo = {}, []
    for u in utts:
        try:
            file = features.cache_file(cache_dir, u.path)
        except OSError as e:
            results[str(u.path)] = {'path': str(u.path), 'status': 'skipped',
                                    'reason': f'{u.path}: cannot stat ({e})'}
            continue
        summary = _cached_summary(str(u.path), file) if file.exists() \
            else None
        if summary is None:
            todo.append((str(u.path), str(file)))
        else:
            results[str(u.path)] = summary
    # A worker per file at most: more would only start idle processes.
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    print(f'vox: {len(utts)} file(s) listed, {len(results)} already cached, '
          f'{len(todo)} to prepare on {jobs} process(es)', file=stream)

    def handle(r):
        results[r['path']] = r
        if verbose:
            line = r['reason'] if r['status'] == 'skipped' \
                else r['path']
            print(f"{r['status']} {line}", file=out, flush=True)

    if todo:
        if jobs == 1:
            it = map(_work, todo)
            for r in progress(it, total=len(todo),
                              label='vox: preparing', stream=stream):
                handle(r)
        else:
            ctx = multiprocessing.get_context('fork')
            with ctx.Pool(jobs) as pool:
                it = pool.imap_unordered(_work, todo, chunksize=1)
                for r in progress(it, total=len(todo),
                                  label='vox: preparing', stream=stream):
                    handle(r)
    report = _report(listing, results, crop_frames, time.time() - start)
    text = format_report(report)
    print(text, file=stream)
    _atomic_text(cache_dir / 'prepare-report.json',
                 json.dumps(report, indent=1, ensure_ascii=False) + '\n')
    _atomic_text(cache_dir / 'prepare-report.txt', text + '\n')
    if report['usable'] == 0:
        raise VoxError(
            f'{spec}: nothing usable was prepared ({len(utts)} file(s) '
            f'listed, {len(report["skipped"])} skipped, none at least '
            f'{crop_frames} frames long); see {cache_dir}/prepare-report.txt')
    return report


def _report(listing, results, crop_frames, seconds):
    by_path = {str(u.path): u for u in listing.utterances}
    counts = {group: Counter() for group in GROUPS}
    speakers = {}
    for u in listing.utterances:
        speakers.setdefault(u.speaker, {
            'speaker': u.speaker, 'found': 0, 'usable': 0, 'too_short': 0,
            'rejected': 0, 'birthplace': u.birthplace, 'sex': u.sex})
        speakers[u.speaker]['found'] += 1
    skipped, warnings, short = [], [], []
    usable = prepared = 0
    total_frames = 0
    for path in sorted(results):
        r = results[path]
        row = speakers[by_path[path].speaker]
        if r['status'] == 'skipped':
            skipped.append({'path': path, 'reason': r['reason']})
            row['rejected'] += 1
            continue
        prepared += 1
        total_frames += r['frames']
        for n in r.get('notes', []):
            warnings.append({'path': path, 'note': n})
        if r['frames'] < crop_frames:
            short.append({'path': path, 'reason': (
                f'{path}: {r["frames"]} frames, shorter than one crop '
                f'({crop_frames} frames, '
                f'{audio.n_samples(crop_frames) / audio.SAMPLE_RATE:.2f} s); '
                f'training skips it')})
            row['too_short'] += 1
            continue
        usable += 1
        row['usable'] += 1
        u = by_path[path]
        counts['speaker'][u.speaker] += 1
        counts['birthplace'][u.birthplace or '(none)'] += 1
        counts['sex'][u.sex or '(none)'] += 1
    seconds_audio = (total_frames * audio.HOP) / audio.SAMPLE_RATE
    return {
        'corpus': listing.kind, 'root': str(listing.root),
        'listed': len(listing.utterances), 'prepared': prepared,
        'usable': usable, 'crop_frames': crop_frames,
        'audio_minutes': round(seconds_audio / 60, 3),
        'elapsed_seconds': round(seconds, 3),
        'counts': {k: dict(sorted(v.items())) for k, v in counts.items()},
        'speakers': [speakers[k] for k in sorted(speakers)],
        'skipped': skipped, 'too_short': short, 'warnings': warnings,
        'metadata_problems': [str(p) for p in listing.problems],
        'not_placed': grouped_lines(listing.problems),
    }


SHOWN_FILES = 20   # per section; prepare-report.json lists them all


def speaker_table(speakers):
    """The per-speaker table: files found, usable, too short, rejected and
    the labels, one row per speaker, columns aligned."""
    head = ('speaker', 'found', 'usable', 'too short', 'rejected', 'label')
    rows = [(s['speaker'], str(s['found']), str(s['usable']),
             str(s['too_short']), str(s['rejected']),
             f'{s["birthplace"] or "-"} / {s["sex"] or "-"}')
            for s in speakers]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(6)]
    return ['  '.join(c.ljust(w) if i in (0, 5) else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in [head] + rows]


def format_report(r):
    lines = [f'vox prepare: {r["corpus"]} corpus at {r["root"]}',
             f'  {r["listed"]} listed, {r["prepared"]} prepared, '
             f'{r["usable"]} usable (>= {r["crop_frames"]} frames), '
             f'{len(r["skipped"])} skipped, {r["audio_minutes"]:.1f} min of '
             f'audio, {r["elapsed_seconds"]:.1f} s']
    for group in GROUPS:
        c = r['counts'][group]
        shown = ', '.join(f'{k}: {v}' for k, v in list(c.items())[:50])
        more = f' ... ({len(c)} in all)' if len(c) > 50 else ''
        lines.append(f'  per {group} ({len(c)}): {shown}{more}')
    for title, items in (('skipped files', [s['reason']
                                            for s in r['skipped']]),
                         ('shorter than one crop', [s['reason']
                                                    for s in r['too_short']])):
        if items:
            lines.append(f'  {title} ({len(items)}):')
            lines.extend(f'    {i}' for i in items[:SHOWN_FILES])
            if len(items) > SHOWN_FILES:
                lines.append(f'    ... {len(items) - SHOWN_FILES} more, all '
                             f'listed in prepare-report.json')
    groups = {}   # warnings grouped: a corpus at 48 kHz resamples every file
    for w in r['warnings']:
        key = 'clipping' if w['note'].startswith('clipping') else w['note']
        groups.setdefault(key, []).append(w)
    for key, ws in groups.items():
        lines.append(f'  warning: {key}: {len(ws)} file(s)'
                     + (' (all listed in prepare-report.json)'
                        if len(ws) > 10 else ''))
        lines.extend(f'    {w["path"]}' + (f': {w["note"]}'
                                             if key == 'clipping' else '')
                     for w in ws[:10])
    lines.append(f'  table of speakers ({len(r["speakers"])}):')
    lines.extend(f'    {line}' for line in speaker_table(r['speakers']))
    if r['not_placed']:
        lines.append(f'  could not be placed ({len(r["metadata_problems"])}'
                     f' in {len(r["not_placed"])} group(s)):')
        lines.extend(f'    {line}' for line in r['not_placed'])
    return '\n'.join(lines)
