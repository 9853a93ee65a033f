"""vox corpus: generate the built-in corpus into the cache, print its path."""


def register(sub):
    p = sub.add_parser('corpus', help='generate the built-in corpus')
    p.set_defaults(func=main)


def main(args):
    from vox.base.errors import VoxError
    from vox.config import CorpusConfig
    from vox.data.sources import cache_dir, resolve_corpus
    try:
        print(resolve_corpus('synth', CorpusConfig(), seed=0))  # the faithful one
    except OSError as e:  # a full or read-only cache
        raise VoxError(f'{e.filename or cache_dir()}: {e.strerror}; free '
                       f'space or give another cache folder with '
                       f'VOX_CACHE=dir') from None
