"""``python -m strato``: the same command line as the ``strato`` console script (see
``strato.cli.main``)."""

from strato.cli.main import main

raise SystemExit(main())
