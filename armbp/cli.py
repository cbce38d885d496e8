"""The ``armbp`` command: one sub-command per front end, each imported only when used.

Lazy imports keep ``armbp esr`` quick to start and free of Unicorn.
"""

from __future__ import annotations

import importlib
import sys

# sub-command -> (module with a ``main(argv: list[str]) -> int``, one-line help)
COMMANDS = {
    "demo": (
        "armbp.demo",
        "narrated trace: a breakpoint planted, trapped, handled, stepped over",
    ),
    "gdbserver": (
        "armbp.gdb.cli",
        "GDB remote stub: Z0 becomes BRK #0 through the breakpoint table",
    ),
    "run": (
        "armbp.linux.cli",
        "run a static AArch64 Linux ELF at EL0, as qemu-aarch64 does",
    ),
    "esr": (
        "armbp.esr.cli",
        "decode exception syndrome values (ESR_ELx), e.g. armbp esr 0x96000045",
    ),
    "lab": (
        "armbp.lab:main_lab",
        "copy the lessons into a folder of yours (once) and open JupyterLab there",
    ),
    "notebooks": (
        "armbp.lab:main_notebooks",
        "copy the lessons into DIR, never overwriting your edits",
    ),
    "kvm": (
        "armbp.kvm.lab.cli",
        "boot real Linux KVM in an emulated arm64 machine and run the model's scenarios on it",
    ),
    "results": (
        "armbp.exercises.results",
        "summarise the learners' self-check results (armbp-results-*.json) in a folder",
    ),
    "app": (
        "armbp.app",
        "serve the ESR explorer and the debugger view with Voila on 127.0.0.1",
    ),
}
# sub-command -> (module whose absence means an extra is missing, the extra)
NEEDS = {"app": ("voila", "app")}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return (
        f"usage: armbp [--version] COMMAND [ARGS...]\n\ncommands:\n{rows}\n\n"
        f"'armbp COMMAND --help' for more."
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    if args[0] in {"-V", "--version"}:
        from . import __version__

        print(f"armbp {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(
            f"armbp: unknown command {name!r}: expected one of {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        print(_usage(), file=sys.stderr)
        return 2
    if name in NEEDS and not {"-h", "--help"} & set(rest):
        from .lab import missing_extra

        hint = missing_extra(*NEEDS[name])
        if hint:
            print(f"armbp {name}: {hint}", file=sys.stderr)
            return 2
    module_name, _, function = COMMANDS[name][0].partition(":")
    entry = getattr(importlib.import_module(module_name), function or "main")
    return int(entry(rest) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
