"""vox compare RUN [RUN ...]: curves, plots and settings side by side."""


def register(sub):
    p = sub.add_parser(
        'compare', help='compare run folders (curves, plots, settings)',
        description='Overlays the runs\' LogReport curves (one PNG per '
        'metric group), puts same-named PlotReport PNGs side by side with '
        'a difference image, and writes compare.md: final and best value '
        'of every shared metric and every setting that differs.')
    p.add_argument('runs', nargs='+', metavar='RUN',
                   help='run folders: results/<ID>/<run>')
    p.add_argument('--blog', action='store_true',
                   help="add the blog's reference figures as a column")
    p.add_argument('--out', help='output folder (default: '
                   '<results>/compare/<timestamp>)')
    p.add_argument('--x', choices=('epoch', 'iteration'),
                   help='x axis of the curves (default: epoch when every '
                   'log entry has one)')
    p.set_defaults(func=main)


def main(args):
    from pathlib import Path

    from vox.base.errors import VoxError
    from vox.base.files import claim_folder
    from vox.reports.compare import MAKER, compare
    if args.out:  # before any work: new, empty or an earlier comparison
        claim_folder(Path(args.out), MAKER, '--out')
    try:
        out, text = compare(args.runs, out=args.out, blog=args.blog,
                            x_key=args.x)
    except OSError as e:  # read-only disk, a full one, ...
        raise VoxError(f'{e.filename or args.out}: {e.strerror}; check the '
                       f'run folders and give a writable --out') from None
    print(text, end='')
    print(f'vox: comparison written to {out}')
