"""vox prepare CORPUS: check a corpus and cache its features (vox/data/prepare.py)."""


def register(sub):
    p = sub.add_parser(
        'prepare', help='check a corpus and cache its features',
        description='Read CORPUS (kind:path with kind manifest, jvs, vctk, '
                    'csj or synth; or a path, auto-detected), validate every '
                    'file, and extract features into the cache training '
                    'uses.  Writes prepare-report.txt/.json beside the cache.')
    p.add_argument('corpus', nargs='?', default='synth',
                   help='kind:path or a path (default: synth)')
    p.add_argument('--jobs', '-j', type=int, default=None,
                   help='worker processes (default: all CPU cores)')
    p.add_argument('--crop-frames', type=int, default=64,
                   help='shortest useful utterance, in frames (default 64)')
    p.add_argument('--mic', choices=('mic1', 'mic2'), default='mic1',
                   help='VCTK 0.92 microphone (default mic1)')
    p.add_argument('--birthplace', choices=('accent', 'region'),
                   default='accent', help='VCTK column used as birthplace')
    p.add_argument('--verbose', '-v', action='store_true',
                   help='print one line per file as it is prepared')
    p.set_defaults(func=main)


def main(args):
    from vox.data.prepare import prepare
    from vox.base.errors import VoxError
    from vox.data.sources import cache_dir
    options = dict(mic=args.mic, birthplace=args.birthplace)
    try:
        prepare(args.corpus, cache_dir(), jobs=args.jobs,
                crop_frames=args.crop_frames, verbose=args.verbose,
                **options)
    except OSError as e:  # a full or read-only cache, one deleted meanwhile
        raise VoxError(f'{e.filename or cache_dir()}: {e.strerror}; free '
                       f'space or fix the cache folder (VOX_CACHE) and rerun: '
                       f'what is cached already is kept') from None
    return 0
