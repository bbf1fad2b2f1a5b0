"""``python -m wl_standin`` runs the stand-in like the ``wl`` console script."""

import sys

from .cli import main

sys.exit(main())
