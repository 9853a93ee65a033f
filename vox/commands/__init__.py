"""One module per ``vox`` subcommand; see vox/cli.py.

Each module imports at the top only what its parser needs; what the command
runs is imported inside its functions.  vox/cli.py imports every command
module to build the parser, so ``vox --help`` (and every other command)
would otherwise load Chainer and the whole stack
(tests/test_architecture.py allows function-local imports here only).
"""
