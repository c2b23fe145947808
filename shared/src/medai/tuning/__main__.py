"""``python -m medai.tuning``: see ``medai.tuning.cli``."""

from medai.tuning.cli import main

raise SystemExit(main())
