"""vox diagram ID: the built model as the blog's mermaid diagram, or drawn."""


def register(sub):
    p = sub.add_parser(
        'diagram', help="draw an experiment's model (mermaid, SVG or JSON)",
        description='Builds the model at the blog\'s sizes, traces every '
        'node\'s real output and prints a mermaid graph TD per model, '
        'every edge labelled with the real C x T x F shape; --format svg '
        'prints the same graphs drawn (the run report\'s picture), '
        'e.g. vox diagram cfcefd21 --format svg > cfcefd21.svg.')
    p.add_argument('id', help='experiment ID (see vox list)')
    p.add_argument('--format', choices=('mermaid', 'svg', 'json'),
                   default='mermaid',
                   help='mermaid text (default), an SVG picture or data')
    p.add_argument('--graph', help="only this model, e.g. 'generator' "
                   "(StarGAN experiments have a generator and a "
                   "discriminator)")
    p.set_defaults(func=main)


def main(args):
    import sys

    from vox.faithfulness.diagram import NoDiagram, render
    try:
        if args.format == 'svg':
            # deferred: drawing imports matplotlib
            from vox.faithfulness.drawing import render_svg
            sys.stdout.write(render_svg(args.id, args.graph))
        else:
            sys.stdout.write(render(args.id, args.format, args.graph))
    except NoDiagram as e:
        print(f'vox: {e}')
        return 0
