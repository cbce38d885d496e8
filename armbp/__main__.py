"""``python -m armbp``: the same as the ``armbp`` command."""

import sys

from .cli import main

sys.exit(main())
