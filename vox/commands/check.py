"""vox check ID | --all: the blog's diagrams against the built models."""


def register(sub):
    p = sub.add_parser(
        'check', help="compare an experiment's model with the blog's diagram",
        description='Lists every disagreement between experiments/<ID>/'
        'seed.yaml (the blog\'s diagram as data) and the model vox builds; '
        'fails unless ERRATA.md explains each one.')
    p.add_argument('id', nargs='?', help='experiment ID (see vox list)')
    p.add_argument('--all', action='store_true',
                   help='every experiment, one line each')
    p.set_defaults(func=main)


def main(args):
    from vox.faithfulness.check import check, check_all
    from vox.base.errors import VoxError
    if args.all == bool(args.id):
        raise VoxError('give an experiment ID or --all')
    if args.all:
        results = check_all()
        for r in results:
            print(r.line())
        return 0 if all(r.ok for r in results) else 1
    result = check(args.id)
    print(result.report(), end='')
    return 0 if result.ok else 1
