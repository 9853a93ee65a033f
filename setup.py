from setuptools import find_packages, setup

setup(
    name='vox',
    version='0.1.0',
    description='Reruns the 2019 module/vox voice-conversion experiments '
                '(Chainer) by experiment ID.',
    packages=find_packages(include=['vox', 'vox.*']),
    python_requires='>=3.11,<3.14',
    install_requires=[
        'chainer==7.8.1',
        'numpy>=1.26,<2.6',
        'scipy',
        'pyworld',
        'soundfile',
        'matplotlib',
        'pyyaml',
    ],
    extras_require={
        # CuPy 13 is the last series that accepts NumPy 1 and ships cuDNN;
        # the NumPy-2/CuPy-14 route is described in docs/compat.md.
        'gpu': ['cupy-cuda12x>=13,<14'],
        'test': ['pytest'],
        # vox run ID --distributed (ChainerMN, shipped in chainer): mpi4py
        # and an MPI from PyPI wheels, so no system MPI is needed.
        'mpi': ['mpi4py>=4,<5', 'mpich>=4'],
    },
    entry_points={'console_scripts': ['vox = vox.cli:main']},
)
