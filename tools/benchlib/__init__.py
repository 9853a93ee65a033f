"""What ``tools/bench.py`` measures with and writes: ``perf`` (counting and
memory primitives), ``iterations`` (step time, throughput, memory of one
experiment), ``flops`` (FLOPs per iteration), ``vram`` (the VRAM argument),
``report`` (docs/performance.json and .md).  Imported with tools/ on
``sys.path``, as ``python tools/bench.py`` has it; vox does not import it."""
