"""``armbp.esr`` — read and build ESR_ELx exception syndromes.

``decode(value)`` names every bit of a 64-bit syndrome (never failing: oddities become
warnings), ``parse(text)`` finds syndromes in what a person types or pastes from a kernel
log, and the builders produce the value the hardware writes for one exception. The tables
behind them are what the lesson pictures draw.

Where things live:

* ``classes``   the ``EC`` table: one row per Exception Class (value, kernel short name, ISS
  layout, description), and ``CLASSES``/``EC_INFO``/``LAYOUTS`` read from it
* ``families``  the ISS layouts, one module per family (aborts, debug, calls, system, fp,
  control, memory, other), each with its formatters and consistency checks
* ``spec``      the vocabulary of those tables: ``FieldSpec``, ``Layout``, ``formatter``
* ``decoder``   ``decode``, which compiles each layout into a plan with per-field caches
* ``build``, ``fsc``, ``brkimm``, ``sysreg``, ``parse``, ``cli``: builders, fault status
  codes, BRK immediates, system register names, the text parser, ``armbp esr``

How to add an Exception Class:

1. Write (or extend) its family module in ``families/``: a ``Layout`` titled with the Arm ARM
   section ("ISS encoding for an exception from ..."), its fields made with ``F``/``flag``,
   and any checks (``esr -> list of warnings``). A field whose meaning needs bits outside
   its own uses a formatter that declares them: ``@formatter((15, 15))`` above a function
   that reads bit 15. The decoder's per-field cache is keyed by exactly the declared bits;
   the tests flip every other bit to prove the declaration complete.
2. Add its row to ``EC`` in ``classes.py``: ``NAME = (value, "kernel short name",
   family.LAYOUT, "Arm ARM description")``. Nothing else names it; a builder in ``build.py``
   is optional.

A class that is not in the table (IMPLEMENTATION DEFINED, or newer than it) can be added at
run time with ``register(value, name, short, layout, description)``.

Pure Python: imports nothing else of armbp, no Unicorn, no capstone.
"""

from __future__ import annotations

from .build import (
    bkpt32,
    breakpoint,
    brk,
    data_abort,
    fsc_access_flag,
    fsc_address_size,
    fsc_permission,
    fsc_translation,
    hvc,
    instruction_abort,
    pc_alignment,
    smc,
    software_step,
    svc,
    sys64,
    unknown,
    watchpoint,
    wfx,
)
from .classes import (
    CLASSES,
    EC,
    EC_INFO,
    LAYOUTS,
    ExceptionClass,
    layout,
    register,
    unregister,
)
from .decoder import Field, Syndrome, decode
from .fsc import (
    FSC_ALIGNMENT,
    FSC_DEBUG,
    FSC_SEA,
    FSC_TAG_CHECK,
    FSC_TLB_CONFLICT,
    FSC_TRANSLATION_L3,
)
from .parse import parse
from .spec import F, FieldSpec, Formatter, Layout, flag, formatter

__all__ = [
    "CLASSES",
    "EC",
    "EC_INFO",
    "FSC_ALIGNMENT",
    "FSC_DEBUG",
    "FSC_SEA",
    "FSC_TAG_CHECK",
    "FSC_TLB_CONFLICT",
    "FSC_TRANSLATION_L3",
    "LAYOUTS",
    "ExceptionClass",
    "F",
    "Field",
    "FieldSpec",
    "Formatter",
    "Layout",
    "Syndrome",
    "bkpt32",
    "breakpoint",
    "brk",
    "data_abort",
    "decode",
    "flag",
    "formatter",
    "fsc_access_flag",
    "fsc_address_size",
    "fsc_permission",
    "fsc_translation",
    "hvc",
    "instruction_abort",
    "layout",
    "parse",
    "pc_alignment",
    "register",
    "smc",
    "software_step",
    "svc",
    "sys64",
    "unknown",
    "unregister",
    "watchpoint",
    "wfx",
]
