import os

import pytest

import vox.compat  # noqa: F401  (before chainer: Chainer today)


@pytest.fixture(scope='session', autouse=True)
def shared_cache(tmp_path_factory):
    """One generated corpus and feature cache for the whole session.

    End-to-end tests need the built-in corpus; generating it once instead
    of per test saves about a minute.  A VOX_CACHE already set is kept.
    """
    if 'VOX_CACHE' not in os.environ:
        os.environ['VOX_CACHE'] = str(tmp_path_factory.mktemp('vox-cache'))
    yield os.environ['VOX_CACHE']


def _gpu_available():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _gpu_available():
        return
    skip = pytest.mark.skip(reason='needs CuPy and a CUDA device')
    for item in items:
        # The marker itself: `item.keywords` also holds folder names, so a
        # checkout under a folder called gpu would skip every test.
        if item.get_closest_marker('gpu') is not None:
            item.add_marker(skip)


@pytest.fixture
def fast_kernels():
    """vox.cpu_fast installed for the test (a run installs it; importing
    vox does not), the previous state restored after."""
    from vox import cpu_fast
    was = cpu_fast.installed()
    cpu_fast.install()
    yield cpu_fast
    if not was:
        cpu_fast.uninstall()
