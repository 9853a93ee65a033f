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
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except Stopped as e:  # saved, not finished: no "error", not status 0
        if str(e):  # empty on the ranks other than 0 of a distributed run
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
