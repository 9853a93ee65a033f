"""vox run ID: rerun an experiment (what `make exp-ID` calls)."""
import sys


def add_run_options(p):
    p.add_argument('--profile', help="named profile, e.g. 'smoke' "
                   "(default: the faithful config)")
    p.add_argument('--device', help="'@numpy' (default) or '@cupy:0'")
    p.add_argument('--corpus', help="'synth' (default), a manifest.tsv "
                   "or a folder holding one")
    p.add_argument('--run', help='run folder name (default: a timestamp)')
    p.add_argument('--results', help='results root (default: results/)')
    p.add_argument('--fresh', action='store_true',
                   help='start a new run even if an unfinished one exists')
    p.add_argument('--resume', metavar='SNAPSHOT',
                   help='resume from this snapshot file')
    p.add_argument('--distributed', action='store_true',
                   help='data-parallel over the ranks of mpiexec -n N '
                   '(ChainerMN; needs pip install -e .[mpi]); the config\'s '
                   'minibatch is the global one')
    p.add_argument('--communicator', help='ChainerMN communicator with '
                   '--distributed (default: pure_nccl on GPUs, naive on '
                   'the CPU)')


def register(sub):
    p = sub.add_parser('run', help='rerun an experiment by ID')
    p.add_argument('id', help='experiment ID (see vox list) or a config.yaml')
    add_run_options(p)
    p.add_argument('--input', metavar='WAV', help='blurmask experiments: '
                   'blur this audio file instead of the corpus utterance')
    p.add_argument('--judge', metavar='CLASSIFIER_RUN', help='StarGAN '
                   'experiments: an e19098ab run on the same corpus that '
                   'scores the conversions at every snapshot (judge '
                   'accuracy and content kept, drawn in quality.png)')
    p.set_defaults(func=main)


def with_judge(config, judge):
    """``config`` with ``report.judge`` set (recorded in the run's
    config.yaml); a StarGAN experiment and a run folder only."""
    import dataclasses
    from pathlib import Path

    from vox.base.errors import VoxError
    if config.kind != 'stargan':
        raise VoxError(f'--judge is for StarGAN experiments (54314b33, '
                       f'cfcefd21), not {config.id}')
    if not (Path(judge) / 'config.yaml').exists():
        raise VoxError(f'--judge {judge}: not a vox run folder (no '
                       f'config.yaml); give results/e19098ab/<run>')
    return dataclasses.replace(config, report=dataclasses.replace(
        config.report, judge=str(Path(judge).resolve())))


def main(args):
    from vox.base.errors import VoxError
    from vox.blurmask import run as blurmask_recipe
    from vox.config import load_config
    from vox.config.blurmask import BlurMaskConfig
    from vox.runs.runner import run as run_trainer
    config = load_config(args.id, args.profile)  # the kind picks the schema
    # experiments/<ID>/train.py names its recipe; `vox run` takes the kind's.
    recipe = getattr(args, 'recipe', None)
    common = dict(device=args.device, corpus=args.corpus, run_name=args.run,
                  results=args.results, argv=sys.argv)
    if isinstance(config, BlurMaskConfig):  # ... and the loop, once
        if args.distributed:
            raise VoxError(f'{args.id}: --distributed is for trained '
                           f'experiments; blur-mask runs are one process')
        if args.judge:
            with_judge(config, args.judge)  # says it is for StarGAN runs
        if recipe not in (None, blurmask_recipe):
            raise VoxError(f'{args.id}: a blurmask experiment; its entry '
                           f'script names the recipe {recipe.__name__}, not '
                           f'{blurmask_recipe.__name__}')
        blurmask_recipe.run(config, input_wav=args.input, **common)
        return 0
    if args.input:
        raise VoxError(f'--input is for blurmask experiments only, not '
                       f'{args.id}')
    if args.judge:
        config = with_judge(config, args.judge)
    if args.distributed:  # one rank of mpiexec -n N
        from vox.runs.distributed import run_distributed
        run_distributed(config, fresh=args.fresh, resume=args.resume,
                        communicator=args.communicator, recipe=recipe,
                        **common)
        return 0
    run_trainer(config, fresh=args.fresh, resume=args.resume, recipe=recipe,
                **common)
    return 0
