"""vox blurmask-summary [RESULTS]: final m per blur-mask run beside lambda.

Reads every ``<RESULTS>/blurmask-*/<run>/summary.json`` (RESULTS defaults to
$VOX_RESULTS or results/), prints one Markdown table sorted by run ID, then
lambda, and writes it to ``<RESULTS>/blurmask-summary.md`` (or ``--out``),
so the notes' first finding, "the larger lambda, the larger m", can be
checked from data.
"""
import json
from pathlib import Path

from vox.base.errors import VoxError
from vox.base.files import check_may_overwrite, check_output_file, read_text

#: The first line of every table this command writes.
HEADER = '# Blur-mask runs: final m beside lambda'

COLUMNS = ('run ID', 'run folder', 'profile', 'target', 'm init', 'lambda',
           'lambda on', 'conserve', 'ReLU', 'iterations', 'final mean m',
           'min m', 'max m', 'share m<=1', 'share m<0', 'final MSE',
           'loop s')


def register(sub):
    p = sub.add_parser('blurmask-summary',
                       help='table of final m across blur-mask runs')
    p.add_argument('results', nargs='?',
                   help='results root (default: $VOX_RESULTS or results/)')
    p.add_argument('--out', help='Markdown file to write (default: '
                   'RESULTS/blurmask-summary.md)')
    p.set_defaults(func=main)


def _id_key(exp_id):
    tail = exp_id.rsplit('-', 1)[-1]
    return (int(tail), exp_id) if tail.isdigit() else (10 ** 9, exp_id)


def collect(results):
    """One dict per finished blur-mask run under ``results``."""
    rows = []
    for file in Path(results).glob('blurmask-*/*/summary.json'):
        try:
            row = dict(json.loads(read_text(file, limit=1 << 24)),
                       run_folder=file.parent.name)
            table([row])  # every field the table shows is there
            _sort_key(row)
        except (OSError, UnicodeDecodeError, ValueError, TypeError,
                KeyError, AttributeError) as e:
            what = e.strerror if isinstance(e, OSError) else \
                f'not a blur-mask summary: {type(e).__name__} {e}'
            raise VoxError(f'{file}: {what}; delete it (or its run folder) '
                           f'or rerun that run, then rerun this') from None
        rows.append(row)
    rows.sort(key=_sort_key)
    return rows


def _sort_key(s):
    return (_id_key(s['id']), s['profile'], s['lambda'], s['run_folder'])


def _g(v):
    return f'{v:.4g}'


def table(rows):
    lines = ['| ' + ' | '.join(COLUMNS) + ' |',
             '|' + '---|' * len(COLUMNS)]
    for s in rows:
        fin = s['final']
        target = s['target']
        lines.append('| ' + ' | '.join([
            s['id'], s['run_folder'], s['profile'],
            f"{target.get('kind')} {target.get('output')}",
            _g(s['m_init']), f"{s['lambda']:g}", s['lambda_on'],
            'yes' if s['conserve_total'] else 'no',
            'yes' if s['relu_on_m'] else 'no',
            f"{s['iterations_done']}/{s['iterations']}",
            _g(fin['m_mean']), _g(fin['m_min']), _g(fin['m_max']),
            f"{fin['m_at_most_1']:.3f}", f"{fin['m_negative']:.3f}",
            _g(fin['mse']), f"{s['seconds']['loop']:.0f}"]) + ' |')
    return '\n'.join(lines) + '\n'


def findings_table(results):
    """The notes' findings over the newest run of each ID (all profiles;
    vox.reports.blurmask_findings), as a Markdown section."""
    from vox.reports import blurmask_findings, findings
    profiles = sorted({s['profile'] for s in
                       blurmask_findings.newest_runs(results).values()})
    short = [p for p in profiles if p != 'faithful']
    label = (f"runs of the {', '.join(short)} profile: these verdicts say "
             f"what those short runs show, not what the notes' full runs "
             f"would" if short else '')
    result = {'experiment': 'blurmask', 'run': str(results), 'label': label,
              'short': f"{', '.join(short)} runs" if short else '',
              'findings': blurmask_findings.check_results(results)}
    return findings.markdown(result)


def main(args):
    from vox.runs.folders import results_root
    results = results_root(args.results)
    rows = collect(results)
    if not rows:
        raise VoxError(f'{results}: no finished blur-mask run '
                       f'(blurmask-*/<run>/summary.json); run one first, '
                       f'e.g. make exp-blurmask-5 PROFILE=smoke')
    text = (HEADER + '\n\n'
            f'From {results}/blurmask-*/*/summary.json.  "lambda on entropy":'
            ' loss = MSE - lambda H; "on mse": loss = lambda MSE - H.\n\n'
            + table(rows) + '\n' + findings_table(results))
    out = Path(args.out) if args.out else results / 'blurmask-summary.md'
    check_output_file(out, flag='--out')
    check_may_overwrite(out, HEADER.encode(), '--out')  # only our own
    try:
        out.write_text(text)
    except OSError as e:
        raise VoxError(f'--out {out}: {e.strerror}; give another '
                       f'--out') from None
    print(text, end='')
    print(f'vox: wrote {out}')
