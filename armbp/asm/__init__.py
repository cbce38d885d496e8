"""A small two-pass A64 assembler in pure Python: enough for the lessons and the tests.

``assemble(source, base=0x40000, name="<asm>") -> Program``, ``AsmError`` for what cannot be
assembled and ``AsmWarning`` (a ``warnings`` category) for UNPREDICTABLE forms it assembles
anyway, as GNU as does. Supported instructions are listed in ``MNEMONICS``; the encodings
are checked against GNU as in ``tests/test_asm.py``, and what register 31 means in every
operand slot (sp or the zero register) in ``tests/test_asm_registers.py``. All sections
(``.text``, ``.data``...) go into one image, one after the other, loaded
read-write-execute at ``base``.

Syntax is GNU as's with three differences a lesson may notice: ``;`` starts a comment
(GNU as separates statements with it), register, shift and extend names (``x0``, ``lsl``,
``uxtw``) cannot be labels, and writing a read-only system register (or reading a
write-only one) is an error, not a warning.

Limits, each an ``AsmError`` at the line that passes it: parentheses nest at most 64 deep
(``lexer.MAX_NESTING``); a number, and every value an expression computes, has at most 128
bits (``lexer.MAX_BITS``), so no number is longer than 130 characters; the image is at most
64 MiB (``assembler.MAX_IMAGE``) and ends by 2**64. Sums, signs and ``.equ`` chains have no
limit of their own.
"""

from __future__ import annotations

from .assembler import assemble
from .errors import AsmError, AsmWarning
from .instructions import MNEMONICS

__all__ = ["MNEMONICS", "AsmError", "AsmWarning", "assemble"]
