"""The ``vox`` command.  Each subcommand lives in ``vox/commands/<name>.py``
with ``register(subparsers)``, which adds its parser and sets ``func``."""
import argparse
import importlib
import os
import pkgutil
import signal
import sys

import vox.commands
from vox.base.errors import Stopped, VoxError
from vox.base.progress import end_open_lines


def build_parser():
    parser = argparse.ArgumentParser(
        prog='vox', description='Rerun the module/vox experiments by ID.')
    sub = parser.add_subparsers(dest='command', required=True)
    for info in sorted(pkgutil.iter_modules(vox.commands.__path__),
                       key=lambda i: i.name):
        module = importlib.import_module(f'vox.commands.{info.name}')
        module.register(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM outside the training loop (where GracefulStop snapshots and
    stops instead): raised so that every ``finally`` and ``except
    BaseException`` runs (an untrained run folder is removed, temp files
    closed) instead of the process vanishing with status 143 and no word."""


def _terminate(signum, frame):
    if os.getpid() != _terminate.pid:  # a forked worker: die as asked
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise Terminated()


def main(argv=None):
    return _run_with_sigterm(build_parser().parse_args(argv))


def run_experiment(exp_id, recipe, argv=None):
    """What experiments/<ID>/train.py runs: ``vox run exp_id`` (the same
    options; ``argv`` default: the script's) with the ``recipe`` module
    the script names.  Returns the exit status."""
    args = build_parser().parse_args(
        ['run', exp_id] + list(sys.argv[1:] if argv is None else argv))
    args.recipe = recipe
    return _run_with_sigterm(args)


def _run_with_sigterm(args):
    _terminate.pid = os.getpid()
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: signals are not ours
        previous = None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args):
    try:
        try:
            return args.func(args) or 0
        except BaseException:
            end_open_lines()  # no message on the end of a bar's open line
            raise
    except Terminated:
        print('vox: stopped by SIGTERM; what was finished is kept (a run '
              'folder with nothing trained is removed): rerun the same '
              'command to go on', file=sys.stderr)
        return 128 + signal.SIGTERM
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
