"""``python -m engine.cli``: the ``touchline`` command without the console script."""

from engine.cli import main

main()
