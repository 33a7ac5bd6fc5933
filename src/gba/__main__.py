"""``python -m gba`` is the ``gba`` command."""

from gba.cli.main import main

main()
