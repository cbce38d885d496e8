"""The ``armbp`` command: one sub-command per front end, each imported only when used.

Lazy imports keep ``armbp esr`` quick to start and free of Unicorn.
"""
from __future__ import annotations

import importlib
import sys

# sub-command -> (module with a ``main(argv: list[str]) -> int``, one-line help)
COMMANDS = {
    "demo": ("armbp.demo", "narrated trace: a breakpoint planted, trapped, handled, stepped over"),
    "gdbserver": ("armbp.gdbserver", "GDB remote stub: Z0 becomes BRK #0 through the breakpoint table"),
    "esr": ("armbp.esr.cli", "decode exception syndrome values (ESR_ELx), e.g. armbp esr 0x96000045"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return f"usage: armbp COMMAND [ARGS...]\n\ncommands:\n{rows}\n\n'armbp COMMAND --help' for more."


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"armbp: unknown command {name!r}: expected one of {', '.join(COMMANDS)}",
              file=sys.stderr)
        print(_usage(), file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
