"""``python -m strato``: the same command line as the ``strato`` console script (see
``strato.cli``)."""

from strato.cli import main

raise SystemExit(main())
