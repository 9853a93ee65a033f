"""The ``vox`` command.  Each subcommand lives in ``vox/commands/<name>.py``
with ``register(subparsers)``, which adds its parser and sets ``func``."""
import argparse
import importlib
import pkgutil
import sys

import vox.commands
from vox.base.errors import Stopped, VoxError


def build_parser():
    parser = argparse.ArgumentParser(
        prog='vox', description='Rerun the module/vox experiments by ID.')
    sub = parser.add_subparsers(dest='command', required=True)
    for info in sorted(pkgutil.iter_modules(vox.commands.__path__),
                       key=lambda i: i.name):
        module = importlib.import_module(f'vox.commands.{info.name}')
        module.register(sub)
    return parser


def main(argv=None):
    return _call(build_parser().parse_args(argv))


def run_experiment(exp_id, recipe, argv=None):
    """What experiments/<ID>/train.py runs: ``vox run exp_id`` (the same
    options; ``argv`` default: the script's) with the ``recipe`` module
    the script names.  Returns the exit status."""
    args = build_parser().parse_args(
        ['run', exp_id] + list(sys.argv[1:] if argv is None else argv))
    args.recipe = recipe
    return _call(args)


def _call(args):
    try:
        return args.func(args) or 0
    except Stopped as e:  # saved, not finished: no "error", not status 0
        print(f'vox: {e}', file=sys.stderr)
        return e.exit_code
    except VoxError as e:
        print(f'vox: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('vox: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
