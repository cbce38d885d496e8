"""``armbp.esr`` — read and build ESR_ELx exception syndromes.

``decode(value)`` names every bit of a 64-bit syndrome (never failing: oddities become
warnings), ``parse(text)`` finds syndromes in what a person types or pastes from a kernel
log, and the builders produce the value the hardware writes for one exception. The tables
behind them (``armbp.esr.layouts``) are what the lesson pictures draw.

Pure Python: imports nothing else of armbp, no Unicorn, no capstone.
"""
from __future__ import annotations

from .build import (FSC_ALIGNMENT, FSC_DEBUG, FSC_SEA, FSC_TAG_CHECK, FSC_TLB_CONFLICT,
                    FSC_TRANSLATION_L3, bkpt32, breakpoint, brk, data_abort, fsc_access_flag,
                    fsc_address_size, fsc_permission, fsc_translation, hvc,
                    instruction_abort, pc_alignment, smc, software_step, svc, sys64, unknown,
                    watchpoint)
from .classes import EC, EC_INFO
from .decoder import Field, Syndrome, decode
from .layouts import LAYOUTS, FieldSpec, Layout, layout
from .parse import parse

__all__ = [
    "EC", "EC_INFO", "Field", "Syndrome", "decode", "parse",
    "Layout", "FieldSpec", "LAYOUTS", "layout",
    "brk", "svc", "hvc", "smc", "bkpt32", "unknown", "breakpoint", "software_step",
    "watchpoint", "data_abort", "instruction_abort", "pc_alignment", "sys64",
    "FSC_ALIGNMENT", "FSC_DEBUG", "FSC_SEA", "FSC_TAG_CHECK", "FSC_TLB_CONFLICT",
    "FSC_TRANSLATION_L3", "fsc_access_flag", "fsc_address_size", "fsc_permission",
    "fsc_translation",
]
