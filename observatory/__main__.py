"""``python -m observatory``: the command line (see :mod:`observatory.cli`)."""

import sys

from observatory.cli import main

sys.exit(main())
