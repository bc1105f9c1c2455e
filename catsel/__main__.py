"""``python -m catsel``: the ``catsel`` command."""

import sys

from .apps.cli import main

sys.exit(main())
