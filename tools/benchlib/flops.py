"""FLOPs of one training iteration of a built Trainer, counted by the hooks
of :mod:`benchlib.perf` (from the layer shapes; no timing)."""
from benchlib import perf


def count_flops(trainer, kinds, n_critic=None):
    """{kind: FLOPs of one more iteration of that kind}: ``kinds`` are
    ``'step'``, or a StarGAN's ``'critic'`` and ``'critic+gen'`` (then
    ``n_critic`` is its critic schedule)."""
    updater = trainer.updater
    flops = {}
    for kind in kinds:
        if n_critic is not None:  # the schedule depends only on the count
            updater.iteration = 10 * n_critic - (
                1 if kind == 'critic+gen' else 0)
        link_hook, function_hook = perf.LinkFlops(), perf.ExecutedFlops()
        with trainer.reporter.scope({}), link_hook, function_hook:
            updater.update()
        flops[kind] = {
            'forward': link_hook.forward_flops,
            'convention': link_hook.training_flops,
            'executed': function_hook.flops,
            'executed_by_function': {
                k: 2 * v for k, v in function_hook.by_function.items()}}
    return flops


def mean_over_schedule(flops, n_critic=None):
    """FLOPs per iteration, averaged over a StarGAN's critic schedule."""
    def mean(key):
        if n_critic is not None:
            return ((n_critic - 1) * flops['critic'][key]
                    + flops['critic+gen'][key]) / n_critic
        return flops['step'][key]
    return {k: mean(k) for k in ('forward', 'convention', 'executed')}
