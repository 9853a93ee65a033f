"""vox convert: a whole utterance through a trained StarGAN generator.

    vox convert --run RUN_DIR --input IN.wav --output OUT.wav
                [--speaker NAME] [--birthplace NAME] [--sex M|F]
                [--snapshot PATH] [--device @numpy]

* Input: any sample rate soundfile reads, mixed to mono and resampled to
  16 kHz, with the checks training audio gets (:func:`vox.data.audio.load_wav`:
  not silent, no NaN/inf, not truncated) and at least one training crop
  long.  Output: a 16 kHz WAV with exactly the input's
  duration (16 kHz samples).
* Whole utterance in one pass: the signal is zero-padded at the end to a
  whole number of STFT frames (no centring, so the last partial hop would
  otherwise be lost), the [0, 1] spectrogram is padded with the floor
  (silence) to the generator's frame multiple (16 for 54314b33, 8 for
  cfcefd21), converted at once (the generators are fully convolutional
  over time and run with BN's running statistics) and trimmed back; the
  waveform is Griffin-Lim of ``audio.from_unit`` of the output, trimmed to
  the input's length.  No chunking (no seams, the same model the training
  crops saw), so memory grows linearly with the input's length.
* Targets by name as in the corpus metadata (``labels.json`` /
  ``speakers.json`` in the run folder); sex is M or F.  Attributes not
  given are those of the most typical speaker having the given ones: the
  one with the most utterances in the run's corpus (ties: first name in
  sorted order).  E.g. ``--sex F`` alone picks the female speaker with the
  most utterances, with her birthplace.
"""
import sys
from pathlib import Path

from vox.base.errors import VoxError
from vox.base.files import check_output_file


def register(sub):
    p = sub.add_parser('convert', help='convert a WAV with a StarGAN run')
    p.add_argument('--run', required=True,
                   help='a StarGAN run folder (or one of its snapshots)')
    p.add_argument('--input', required=True, help='input audio file')
    p.add_argument('--output', required=True, help='output WAV (16 kHz)')
    p.add_argument('--speaker', help='target speaker name')
    p.add_argument('--birthplace', help='target birthplace name')
    p.add_argument('--sex', help='target sex: M or F')
    p.add_argument('--snapshot', help='snapshot file (default: the newest)')
    p.add_argument('--device', help="'@numpy' (default) or '@cupy:0'")
    p.set_defaults(func=main)


def load_stargan_run(run_dir):
    """A StarGAN run folder's config and labels (no models yet)."""
    from vox.training.store import load_run
    run = load_run(run_dir)
    if run.config.kind != 'stargan':
        raise VoxError(f'{run.path}: a {run.config.kind} run ({run.config.id}'
                       f'); give a StarGAN run (54314b33, cfcefd21)')
    return run


def main(args):
    from vox import cpu_fast
    from vox.base.device import get_device
    from vox.base.labels import GROUPS
    from vox.data import audio
    from vox.inference.conversion import SpeakerTable, convert_wave
    from vox.training.store import load_models
    cpu_fast.install_for_run()  # the kernels training used
    device = get_device(args.device)
    if args.snapshot and not Path(args.snapshot).is_file():
        raise VoxError(f'--snapshot {args.snapshot}: no such file')
    check_output_file(args.output, [args.input, args.snapshot])
    audio.check_output_format(args.output)
    # Cheapest first, all before the model loads: the names given (against
    # labels.json), the input (checked as training audio is), then the
    # target they pick among the run's speakers.
    run = load_stargan_run(args.run)
    given = (args.speaker, args.birthplace, args.sex)
    names_only = SpeakerTable(run.labels.names, [])
    for group, value in zip(GROUPS, given):
        if value is not None:
            names_only.name_of(group, value)
    wave = audio.load_wav(args.input, min_frames=run.config.data.crop_frames)
    table = SpeakerTable.load(run.path, run.labels.names)
    row = table.resolve(*given)
    run, models = load_models(args.run, snapshot=args.snapshot, device=device)
    out = convert_wave(models['generator'], wave, table.index(row),
                       device=device)
    output = Path(args.output)
    try:
        audio.save_wav(output, out)
    except OSError as e:
        raise VoxError(f'cannot write {output}: {e.strerror}') from None
    if all(tuple(r[:3]) != row for r in table.rows):
        print(f'vox: note: {"/".join(row)} is not a combination the corpus '
              f'has; the generator never saw it', file=sys.stderr)
    print(f'vox: {args.input} ({len(wave) / audio.SAMPLE_RATE:.2f} s) -> '
          f'speaker {row[0]}, birthplace {row[1]}, sex {row[2]} -> {output} '
          f'({run.config.id}, {run.path.name})')
