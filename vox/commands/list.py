"""vox list: the experiment IDs with their blog status and title."""


def register(sub):
    p = sub.add_parser('list', help='list experiment IDs')
    p.set_defaults(func=main)


def main(args):
    from vox.config import known_ids, load_config
    for exp_id in known_ids():
        c = load_config(exp_id)
        print(f'{exp_id:12s} {c.status:10s} {c.title}')
