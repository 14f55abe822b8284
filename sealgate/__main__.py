"""``python -m sealgate`` is the ``sealgate`` command."""

from sealgate.cli import main

main()
