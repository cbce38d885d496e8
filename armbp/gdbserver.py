"""``python -m armbp.gdbserver``: the entry the tests and benchmarks start the stub by.

The stub itself is the package ``armbp.gdb``; this module only runs its command.
"""

import sys

from armbp.gdb.cli import main

if __name__ == "__main__":
    sys.exit(main())
