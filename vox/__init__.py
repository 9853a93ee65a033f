"""vox: reruns the module/vox blog's voice-conversion experiments by ID.

``import vox`` changes nothing outside vox: the Chainer workarounds
(``vox.compat``) run when a vox module that needs Chainer is imported, and
the faster CPU kernels (``vox.cpu_fast``) are installed by a run
(``vox.cpu_fast.install_for_run``).
"""
