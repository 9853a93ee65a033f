"""vox findings RUN [RUN ...]: did this rerun find what the blog found?

One line per finding of the run's experiment (experiments/<ID>/
findings.yaml; the blur-mask runs share experiments/blurmask-findings.yaml
and are checked over the nine runs under the same results root): the
blog's statement, what this run measured, and reproduced / not
reproduced / not comparable with the numbers and the baseline.  The
checks are vox.reports.findings.
"""


def register(sub):
    p = sub.add_parser('findings', help="check a run against the blog's "
                       'findings (reproduced / not reproduced / not '
                       'comparable)')
    p.add_argument('runs', nargs='+', metavar='RUN',
                   help='run folder(s): results/<ID>/<run>')
    p.add_argument('--json', action='store_true',
                   help='print the verdicts as JSON')
    p.set_defaults(func=main)


def main(args):
    import json
    from pathlib import Path

    from vox.base.errors import VoxError
    from vox.reports.findings import check_run, lines
    results = []
    for run in args.runs:
        if not (Path(run) / 'config.yaml').exists():
            raise VoxError(f'{run}: not a vox run folder (no config.yaml); '
                           f'give results/<ID>/<run>')
        results.append(check_run(run))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        print('\n'.join(lines(result)))
    return 0
