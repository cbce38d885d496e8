"""``python -m armbp.gdb``: the same command as ``armbp gdbserver``."""

import sys

from armbp.gdb.cli import main

sys.exit(main())
