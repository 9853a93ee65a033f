"""The ``vox`` command: ``vox run ID``, ``vox list``, ``vox corpus``."""
import argparse
import sys

from vox.errors import VoxError


def add_run_options(p):
    p.add_argument('--profile', help="named profile, e.g. 'smoke' "
                   "(default: the faithful config)")
    p.add_argument('--device', help="'@numpy' (default) or '@cupy:0'")
    p.add_argument('--corpus', help="'synth' (default) or a manifest.tsv "
                   "or a folder holding one")
    p.add_argument('--run', help='run folder name (default: a timestamp)')
    p.add_argument('--results', help="results root (default: results/)")


def cmd_run(args):
    from vox.runner import run
    run(args.id, profile=args.profile, device=args.device,
        corpus=args.corpus, run_name=args.run, results=args.results,
        argv=sys.argv)


def cmd_list(args):
    from vox.config import known_ids, load_config
    for exp_id in known_ids():
        c = load_config(exp_id)
        print(f'{exp_id:12s} {c.status:10s} {c.title}')


def cmd_corpus(args):
    from vox.config import load_config
    from vox.runner import resolve_corpus
    print(resolve_corpus('synth', load_config('e19098ab')))


def build_parser():
    parser = argparse.ArgumentParser(prog='vox', description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('run', help='rerun an experiment by ID')
    p.add_argument('id')
    add_run_options(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser('list', help='list experiment IDs')
    p.set_defaults(func=cmd_list)
    p = sub.add_parser('corpus', help='generate the built-in corpus')
    p.set_defaults(func=cmd_corpus)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except VoxError as e:
        print(f'vox: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('vox: interrupted', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
