"""``python -m recgen.cli``: the ``recgen`` command without the installed console script."""

from recgen.cli import main

main()
