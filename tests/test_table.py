"""The breakpoint table over a bytearray: QEMU/KVM semantics, and nothing lost on failure."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from armbp.encodings import BRK0, NOP, from_bytes, to_bytes
from armbp.memory import BytearrayMemory, MemoryFault
from armbp.table import Breakpoint, BreakpointError, BreakpointOverwritten, BreakpointTable

BASE = 0x40000
WORDS = [0xD2800060 + i for i in range(16)]  # distinct "instructions"
IMAGE = b"".join(to_bytes(w) for w in WORDS)


def fresh():
    mem = BytearrayMemory(IMAGE, BASE)
    return mem, BreakpointTable(mem)


def word(mem, pc):
    return from_bytes(mem.read(pc, 4))


def snapshot(mem, table):
    return bytes(mem.data), list(table)


def test_insert_saves_and_writes_brk0():
    mem, t = fresh()
    bp = t.insert(BASE + 4)
    assert bp == Breakpoint(BASE + 4, WORDS[1], 1)
    assert word(mem, BASE + 4) == BRK0 == 0xD4200000
    assert word(mem, BASE) == WORDS[0] and word(mem, BASE + 8) == WORDS[2]


def test_second_insert_only_counts_up_and_remove_counts_down():
    mem, t = fresh()
    t.insert(BASE)
    after_first = bytes(mem.data)
    assert t.insert(BASE).use_count == 2
    assert bytes(mem.data) == after_first  # saved_insn is still the original, not the BRK
    assert t.find(BASE).saved_insn == WORDS[0]
    assert t.remove(BASE) == Breakpoint(BASE, WORDS[0], 1)
    assert word(mem, BASE) == BRK0
    assert t.remove(BASE) is None
    assert word(mem, BASE) == WORDS[0] and len(t) == 0


@pytest.mark.parametrize(
    "pc, errno, text",
    [
        (BASE + 2, "EINVAL", "misaligned"),
        (BASE + len(IMAGE), "EINVAL", "cannot insert"),  # unmapped
        (-4, "EINVAL", "outside"),
        (1 << 64, "EINVAL", "outside"),
    ],
)
def test_insert_failures_change_nothing(pc, errno, text):
    mem, t = fresh()
    t.insert(BASE + 8)
    before = snapshot(mem, t)
    with pytest.raises(BreakpointError, match=text) as e:
        t.insert(pc)
    assert e.value.errno == errno
    assert hex(pc) in str(e.value)
    assert snapshot(mem, t) == before


def test_insert_into_rom_fails_and_leaves_memory():
    mem = BytearrayMemory(IMAGE, BASE, read_only=True)
    t = BreakpointTable(mem)
    with pytest.raises(BreakpointError, match="read-only"):
        t.insert(BASE)
    assert bytes(mem.data) == IMAGE and len(t) == 0


def test_non_integer_address_is_named():
    _, t = fresh()
    with pytest.raises(BreakpointError, match="'loop' is not an integer"):
        t.insert("loop")


def test_remove_unknown_is_enoent_and_lists_known():
    mem, t = fresh()
    t.insert(BASE + 12)
    before = snapshot(mem, t)
    with pytest.raises(BreakpointError, match=r"no breakpoint at 0x40004 .*0x4000c") as e:
        t.remove(BASE + 4)
    assert e.value.errno == "ENOENT"
    assert snapshot(mem, t) == before


def test_guest_overwrote_the_brk_removal_reports_and_changes_nothing():
    mem, t = fresh()
    t.insert(BASE + 4)
    mem.write(BASE + 4, to_bytes(NOP))  # the guest's own store
    before = snapshot(mem, t)
    with pytest.raises(BreakpointOverwritten) as e:
        t.remove(BASE + 4)
    msg = str(e.value)
    assert "0x40004" in msg and "0xd4200000" in msg and f"{NOP:#010x}" in msg
    assert (e.value.address, e.value.expected, e.value.found) == (BASE + 4, BRK0, NOP)
    assert snapshot(mem, t) == before
    assert t.remove(BASE + 4, force=True) is None
    assert word(mem, BASE + 4) == NOP and len(t) == 0  # force: dropped, memory untouched


def test_force_restores_an_intact_brk_whatever_the_count():
    mem, t = fresh()
    t.insert(BASE)
    t.insert(BASE)
    assert t.remove(BASE, force=True) is None
    assert bytes(mem.data) == IMAGE


def test_remove_all_checks_everything_first():
    mem, t = fresh()
    for i in (0, 2, 5):
        t.insert(BASE + 4 * i)
    mem.write(BASE + 8, to_bytes(NOP))
    before = snapshot(mem, t)
    with pytest.raises(BreakpointError, match="0x40008"):
        t.remove_all()
    assert snapshot(mem, t) == before
    t.remove_all(force=True)
    expected = bytearray(IMAGE)
    expected[8:12] = to_bytes(NOP)
    assert bytes(mem.data) == bytes(expected) and len(t) == 0


def test_shadow_shows_original_instructions_even_partially():
    mem, t = fresh()
    t.insert(BASE + 4)
    raw = mem.read(BASE, 12)
    assert t.shadow(BASE, raw) == IMAGE[:12]
    assert t.shadow(BASE + 6, mem.read(BASE + 6, 4)) == IMAGE[6:10]
    mem.write(BASE + 4, to_bytes(NOP))  # guest overwrote: show what is really there
    assert t.shadow(BASE + 4, mem.read(BASE + 4, 4)) == to_bytes(NOP)


def test_write_through_updates_saved_insn_and_keeps_brk():
    mem, t = fresh()
    t.insert(BASE + 4)
    t.write_through(BASE + 2, b"\xaa\xbb\xcc\xdd")
    assert mem.read(BASE + 2, 2) == b"\xaa\xbb"
    assert word(mem, BASE + 4) == BRK0
    assert t.find(BASE + 4).saved_insn == from_bytes(b"\xcc\xdd" + to_bytes(WORDS[1])[2:])
    t.remove(BASE + 4)
    assert mem.read(BASE + 4, 2) == b"\xcc\xdd"


def test_write_through_fault_changes_nothing():
    mem, t = fresh()
    t.insert(BASE + len(IMAGE) - 4)
    before = snapshot(mem, t)
    with pytest.raises(MemoryFault):
        t.write_through(BASE + len(IMAGE) - 4, b"\0" * 8)
    assert snapshot(mem, t) == before


class TableModel(RuleBasedStateMachine):
    """Any sequence of inserts, removes and guest writes keeps memory equal to the model:
    the original image with BRK at every live entry (except words the guest overwrote),
    and every failed call changes nothing."""

    def __init__(self):
        super().__init__()
        self.mem, self.table = fresh()
        self.counts: dict[int, int] = {}
        self.guest = {}  # pc -> word the guest wrote over our BRK
        self.shadow_image = bytearray(IMAGE)  # what the guest should see (no BRKs)

    pcs = st.integers(0, len(IMAGE) // 4).map(lambda i: BASE + 4 * i)  # one past the end too

    def expected_memory(self) -> bytes:
        img = bytearray(self.shadow_image)
        for pc in self.counts:
            off = pc - BASE
            img[off : off + 4] = to_bytes(self.guest.get(pc, BRK0))
        return bytes(img)

    def attempt(self, fn, *args, **kw):
        before = snapshot(self.mem, self.table)
        try:
            return True, fn(*args, **kw)
        except (BreakpointError, MemoryFault):
            assert snapshot(self.mem, self.table) == before
            return False, None

    @rule(pc=pcs | st.integers(BASE - 8, BASE + 80))
    def insert(self, pc):
        ok, _ = self.attempt(self.table.insert, pc)
        valid = pc % 4 == 0 and BASE <= pc < BASE + len(IMAGE)
        assert ok == valid
        if ok:
            self.counts[pc] = self.counts.get(pc, 0) + 1

    @rule(pc=pcs, force=st.booleans())
    def remove(self, pc, force):
        ok, _ = self.attempt(self.table.remove, pc, force=force)
        if pc not in self.counts:
            assert not ok
            return
        overwritten = pc in self.guest
        if overwritten and not force and self.counts[pc] == 1:
            assert not ok
            return
        assert ok
        if self.counts[pc] > 1 and not force:
            self.counts[pc] -= 1
            return
        del self.counts[pc]
        if overwritten:
            off = pc - BASE
            self.shadow_image[off : off + 4] = to_bytes(self.guest.pop(pc))

    @precondition(lambda self: self.counts)
    @rule(data=st.data(), value=st.integers(0, 0xFFFFFFFF).filter(lambda w: w != BRK0))
    def guest_overwrites_a_brk(self, data, value):
        pc = data.draw(st.sampled_from(sorted(self.counts)))
        self.mem.write(pc, to_bytes(value))
        self.guest[pc] = value

    @rule(
        pc=st.integers(BASE, BASE + len(IMAGE) - 1), payload=st.binary(min_size=1, max_size=9)
    )
    def debugger_writes(self, pc, payload):
        ok, _ = self.attempt(self.table.write_through, pc, payload)
        assert ok == (pc + len(payload) <= BASE + len(IMAGE))
        if ok:
            off = pc - BASE
            self.shadow_image[off : off + len(payload)] = payload
            for bp_pc, w in list(self.guest.items()):  # overwritten words take the bytes
                word_bytes = bytearray(to_bytes(w))
                for i in range(4):
                    if pc <= bp_pc + i < pc + len(payload):
                        word_bytes[i] = payload[bp_pc + i - pc]
                self.guest[bp_pc] = from_bytes(bytes(word_bytes))

    @invariant()
    def memory_matches_model(self):
        assert bytes(self.mem.data) == self.expected_memory()
        assert {bp.pc: bp.use_count for bp in self.table} == self.counts

    @invariant()
    def shadow_shows_what_the_guest_should_see(self):
        if not self.guest:
            assert self.table.shadow(BASE, self.mem.read(BASE, len(IMAGE))) == bytes(
                self.shadow_image
            )


TableModel.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None
)
test_table_model = TableModel.TestCase
