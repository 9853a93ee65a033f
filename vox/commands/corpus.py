"""vox corpus: generate the built-in corpus into the cache, print its path."""


def register(sub):
    p = sub.add_parser('corpus', help='generate the built-in corpus')
    p.set_defaults(func=main)


def main(args):
    from vox.config import CorpusConfig
    from vox.data.sources import resolve_corpus
    print(resolve_corpus('synth', CorpusConfig(), seed=0))  # the faithful one
