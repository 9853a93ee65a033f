"""``import vox`` changes nothing outside vox; ``vox --help`` needs no Chainer.

Each check runs in a fresh interpreter: this test session has imported
vox and Chainer long before.
"""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Chainer imported first, after vox/compat.py (Chainer 7.8.1 needs it on
# today's Python), which is loaded from its file as vox.compat without
# importing the vox package, whose effect is measured.  Then every member
# of every Chainer class, before and after `import vox`.
CHAINER_THEN_VOX = r'''
import importlib.util, inspect, json, sys
spec = importlib.util.spec_from_file_location('vox.compat', sys.argv[1])
sys.modules['vox.compat'] = compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)
import chainer, chainer.functions, chainer.links, chainer.optimizers
import chainer.training, chainer.training.extensions

def members():
    found = {}
    for name, module in list(sys.modules.items()):
        if name != 'chainer' and not name.startswith('chainer.'):
            continue
        for cls_name, cls in list(vars(module).items()):
            if inspect.isclass(cls) and cls.__module__ == name:
                for attr, value in list(vars(cls).items()):
                    found[f'{name}.{cls_name}.{attr}'] = value
    return found

before = members()
modules = set(sys.modules)
import vox
after = members()
print(json.dumps({
    'methods': len(before),
    'changed': sorted(k for k in before if after.get(k) is not before[k]),
    'added': sorted(set(after) - set(before)),
    'modules': sorted(set(sys.modules) - modules),
}))
'''

HELP = r'''
import json, sys
from vox.cli import main
for argv in (['--help'], ['run', '--help']):
    try:
        main(argv)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules
                        if m.split('.')[0] in ('chainer', 'chainermn',
                                               'cupy'))))
'''


def python(code, *args):
    out = subprocess.run([sys.executable, '-c', code, *args], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_vox_leaves_chainer_as_it_is():
    found = python(CHAINER_THEN_VOX, str(REPO / 'vox' / 'compat.py'))
    assert found['methods'] > 1000  # the walk saw Chainer's classes
    assert found['changed'] == []
    assert found['added'] == []
    assert [m for m in found['modules']
            if m != 'vox' and not m.startswith('vox.')] == []


def test_a_run_installs_the_fast_kernels_importing_does_not():
    code = CHAINER_THEN_VOX.replace(
        'import vox\n', 'import vox\nfrom vox import cpu_fast\n'
        'cpu_fast.install_for_run({})\n')
    found = python(code, str(REPO / 'vox' / 'compat.py'))
    assert 'chainer.functions.connection.convolution_2d.' \
        'Convolution2DFunction._forward_cpu_core' in found['changed']
    off = CHAINER_THEN_VOX.replace(
        'import vox\n', 'import vox\nfrom vox import cpu_fast\n'
        "cpu_fast.install_for_run({'VOX_CHAINER_CPU_FAST': '0'})\n")
    assert python(off, str(REPO / 'vox' / 'compat.py'))['changed'] == []


def test_vox_help_does_not_import_chainer():
    assert python(HELP) == []
