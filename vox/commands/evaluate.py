"""vox evaluate: judge a StarGAN run without listening.

    vox evaluate RUN|SNAPSHOT [--classifier CLASSIFIER_RUN] [--crops 3] [--targets 4]
                 [--seed 0] [--device @numpy] [--out DIR]

Prints the judge's scores (an e19098ab classifier on the conversions) and
the content kept (pyworld measures between each crop and its conversion,
each between a floor and a ceiling computed the same way), then one
headline on the pair.  Writes ``evaluation.json``, the conversion-quality
section of ``summary.md`` and ``report.html`` into RUN, or the first two
into --out.  The procedure is vox.evaluation.procedure; the measures
vox.evaluation.content; the words vox.reports.conversion_quality.
"""
from pathlib import Path

from vox.base.errors import VoxError


def register(sub):
    p = sub.add_parser('evaluate', help='score a StarGAN run: does the '
                       'e19098ab judge hear the targets, and is the '
                       'content kept')
    p.add_argument('run', help='a StarGAN run folder (its newest snapshot) '
                   'or one snapshot_iter_* file of it')
    p.add_argument('--classifier', help='an e19098ab run folder or one '
                   'snapshot_iter_* file of it (default: the newest run '
                   'on the same corpus under the same results root)')
    p.add_argument('--crops', type=int, default=3,
                   help='fixed crops per validation utterance (default 3)')
    p.add_argument('--targets', type=int, default=4,
                   help='targets drawn per crop (default 4)')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the target draw (default 0)')
    p.add_argument('--min-judge-epochs', type=int, default=None,
                   help='flag a judge trained fewer epochs (default 100)')
    p.add_argument('--griffin-lim-iterations', type=int, default=None,
                   help='iterations of every resynthesis (default: the '
                   "samples' 60; fewer only to test quickly)")
    p.add_argument('--balanced', action='store_true',
                   help='evaluate the kept snapshot where the judge and the '
                   'content kept, logged by `vox run --judge`, are best '
                   'balanced (and say which)')
    p.add_argument('--device', help="'@numpy' (default) or '@cupy:0'")
    p.add_argument('--out', help='write evaluation.json and summary.md here '
                   'instead of into RUN (RUN is left untouched)')
    p.set_defaults(func=main)


def main(args):
    from vox import cpu_fast
    from vox.base.device import get_device
    from vox.evaluation import balance, output, procedure
    from vox.reports import conversion_quality
    from vox.training.store import load_models, load_run, newest_snapshot
    gl = args.griffin_lim_iterations
    if args.crops < 1 or args.targets < 1 or (gl is not None and gl < 1):
        raise VoxError('--crops, --targets and --griffin-lim-iterations '
                       'must be at least 1')
    if not 0 <= args.seed < 2 ** 32:  # NumPy's RandomState
        raise VoxError(f'--seed {args.seed}: must be in [0, 2**32)')
    if args.out is not None and Path(args.out).exists() \
            and not Path(args.out).is_dir():
        raise VoxError(f'--out {args.out}: is a file; --out is the folder '
                       f'evaluation.json and summary.md are written to: '
                       f'give a new or existing folder')
    cpu_fast.install_for_run()  # the kernels training used
    device = get_device(args.device)
    run = load_run(args.run)
    if run.config.kind != 'stargan':
        raise VoxError(f'{run.path}: a {run.config.kind} run; give a StarGAN '
                       f'run (54314b33, cfcefd21)')
    snapshot = Path(args.run) if Path(args.run).is_file() else \
        newest_snapshot(run.path)
    if args.balanced:
        if Path(args.run).is_file():
            raise VoxError('--balanced picks the snapshot itself; give the '
                           'run folder')
        snapshot, why = balance.balanced_snapshot(run.path)
        print(f'vox: --balanced: {why}', flush=True)
    run, models = load_models(run.path, snapshot=snapshot, device=device,
                              choose_older='give an older snapshot_iter_* '
                              'file of the run as RUN')
    cls_dir = Path(args.classifier) if args.classifier else \
        procedure.find_classifier(run.path, run.labels.names)
    if not args.classifier:
        print(f'vox: judge {cls_dir}: the newest e19098ab run on the same '
              f'corpus (--classifier RUN to choose another)', flush=True)
    cls_run = load_run(cls_dir)
    if cls_run.config.kind != 'classifier':
        raise VoxError(f'--classifier {cls_dir}: a {cls_run.config.kind} '
                       f'run; give an e19098ab run')
    if cls_run.labels.names != run.labels.names:
        raise VoxError(f'--classifier {cls_run.path}: trained on other '
                       f'labels than {run.path} (different corpus); train '
                       f'e19098ab on the same corpus')
    cls_snapshot = cls_dir if cls_dir.is_file() else \
        newest_snapshot(cls_run.path)
    cls_run, cls_models = load_models(
        cls_run.path, snapshot=cls_snapshot, device=device,
        choose_older='give an older snapshot_iter_* file of the judge as '
        '--classifier')
    data = procedure.load_eval_data(run, cls_run.config.data.crop_frames,
                                    args.crops)
    print(f'vox: {run.config.id} {run.path.name} ({snapshot.name}) judged by '
          f'{cls_run.path.name} ({cls_snapshot.name}) on '
          f'{len(data.validation)} validation crops of '
          f'{cls_run.config.data.crop_frames} frames', flush=True)
    result = procedure.evaluate(
        models['generator'], cls_models['classifier'], data,
        targets_per_crop=args.targets, seed=args.seed, device=device,
        **({} if gl is None else {'gl_iterations': gl}))
    judge = procedure.judge_facts(
        cls_run.path, run.path, procedure.MIN_JUDGE_EPOCHS
        if args.min_judge_epochs is None else args.min_judge_epochs)
    judge['validation_crops'] = procedure.judge_validation_crops(cls_run)
    result = {'run': str(run.path), 'snapshot': snapshot.name,
              'classifier_run': str(cls_run.path),
              'classifier_snapshot': cls_snapshot.name, 'judge': judge,
              'corpus': str(data.manifest),
              'crops_per_utterance': args.crops,
              'confounded': procedure.confounded(data.manifest), **result}
    print(conversion_quality.text(result))
    for path in output.write(result, run.path, args.out):
        print(f'vox: wrote {path}')
