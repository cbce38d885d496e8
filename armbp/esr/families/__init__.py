"""The ISS layouts, one module per family of exception classes.

Each module holds, for its family, the ``Layout`` of every class (named after the Arm ARM
section it comes from), the formatters that phrase its fields (each declared with the ESR
bits it reads besides its own field) and the consistency checks. ``armbp.esr.classes`` names
the layout of each Exception Class; nothing here knows EC numbers.

* ``aborts``  Data/Instruction Abort, GPC, SError
* ``debug``   BRK/BKPT, breakpoint, vector catch, software step, watchpoint
* ``calls``   SVC, HVC, SMC
* ``system``  MSR/MRS/SYS, MSRR/MRRS, AArch32 coprocessor accesses
* ``fp``      FP/SIMD/SVE/SME traps and trapped FP exceptions
* ``control`` BTI, PAC, ERET, GCS, illegal state, PC/SP alignment
* ``memory``  CPY*/SET*, LD64B/ST64B*
* ``other``   unknown reason, WF*, TSTART, EL3 IMP DEF, PMU, unallocated
* ``common``  fields and formatters several families share
"""
