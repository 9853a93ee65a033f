"""One module per ``vox`` subcommand; see vox/cli.py."""
