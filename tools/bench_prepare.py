"""Throughput of ``vox prepare``: minutes of audio prepared per second.

Prepares a corpus into a fresh, empty cache (so every file is read,
validated, resampled if needed and its features extracted and written) and
prints the audio minutes, the wall time and their ratio.  Usage::

    .venv/bin/python tools/bench_prepare.py [CORPUS] [--jobs N] [--repeat R]

CORPUS defaults to ``synth`` (the built-in generated corpus, generated into
$VOX_CACHE or ./cache first if needed; that generation is not timed).
Writes nothing into the repository: the timed cache is a temp folder.
"""
import argparse
import io
import os
import shutil
import sys
import tempfile
import time

import vox.compat  # noqa: F401  (before chainer: Chainer today)

from vox.data.prepare import prepare


def main(argv=None):
    from vox import cpu_fast
    cpu_fast.install_for_run()  # the kernels a run uses
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('corpus', nargs='?', default='synth')
    ap.add_argument('--jobs', '-j', type=int, default=os.cpu_count())
    ap.add_argument('--repeat', type=int, default=1)
    args = ap.parse_args(argv)
    if args.corpus == 'synth':  # generate (untimed) before the clock starts
        from vox.config import CorpusConfig
        from vox.data.sources import resolve_corpus
        spec = f'manifest:{resolve_corpus("synth", CorpusConfig(), seed=0)}'
    else:
        spec = args.corpus
    rates = []
    for _ in range(args.repeat):
        cache = tempfile.mkdtemp(prefix='vox-bench-prepare-')
        try:
            start = time.perf_counter()
            report = prepare(spec, cache, jobs=args.jobs,
                             stream=io.StringIO())
            wall = time.perf_counter() - start
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        minutes = report['audio_minutes']
        rates.append(minutes / wall)
        print(f'{report["prepared"]} files, {minutes:.2f} min of audio in '
              f'{wall:.2f} s with {args.jobs} process(es): '
              f'{minutes / wall:.3f} min of audio per second')
    if len(rates) > 1:
        print(f'best of {len(rates)}: {max(rates):.3f} min/s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
