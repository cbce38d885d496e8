"""``armbp.esr`` — read and build ESR_ELx exception syndromes.

Pure Python: imports nothing else of armbp, no Unicorn, no capstone.
"""
from __future__ import annotations

from .build import (FSC_ALIGNMENT, FSC_DEBUG, FSC_SEA, FSC_TAG_CHECK, FSC_TLB_CONFLICT,
                    FSC_TRANSLATION_L3, bkpt32, breakpoint, brk, data_abort, fsc_access_flag,
                    fsc_address_size, fsc_permission, fsc_translation, hvc,
                    instruction_abort, smc, software_step, svc, unknown, watchpoint)
from .classes import EC, EC_INFO

__all__ = [
    "EC", "EC_INFO",
    "brk", "svc", "hvc", "smc", "bkpt32", "unknown", "breakpoint", "software_step",
    "watchpoint", "data_abort", "instruction_abort",
    "FSC_ALIGNMENT", "FSC_DEBUG", "FSC_SEA", "FSC_TAG_CHECK", "FSC_TLB_CONFLICT",
    "FSC_TRANSLATION_L3", "fsc_access_flag", "fsc_address_size", "fsc_permission",
    "fsc_translation",
]
