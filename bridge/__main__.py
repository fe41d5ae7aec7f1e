"""``python -m bridge``: the same entry point as the ``ocfaj`` console script."""

from bridge.daemon.cli import main

raise SystemExit(main())
