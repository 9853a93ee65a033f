"""vox report RUN: write RUN/report.html (one self-contained page)."""


def register(sub):
    p = sub.add_parser(
        'report', help="write a run's report.html",
        description='Writes RUN/report.html: the run in the blog post\'s '
        'shape (diagram, parameters, time, figures beside the blog\'s, '
        'plots, samples with audio players, errata), every image and '
        'sound embedded.')
    p.add_argument('run', nargs='+', help='run folder(s): results/<ID>/<run>')
    p.set_defaults(func=main)


def main(args):
    from pathlib import Path

    from vox.base.errors import VoxError
    from vox.reports.report import write_report
    from vox.runs.folders import RUN_FILES, is_run_folder
    for run in args.run:  # all checked first: nothing written on a refusal
        if not is_run_folder(run):
            raise VoxError(f'{run}: not a vox run folder (no '
                           f'{", ".join(RUN_FILES)}); nothing was written; '
                           f'give results/<ID>/<run>')
    for run in args.run:
        try:
            write_report(run)
        except OSError as e:  # read-only disk, report.html a folder, ...
            raise VoxError(f'cannot write {e.filename or run}: {e.strerror}; '
                           f'make the run folder writable, or copy it '
                           f'somewhere writable and report that') from None
