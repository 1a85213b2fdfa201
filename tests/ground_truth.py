"""Ground-truth checks shared by the core and the window fault matrices."""

from __future__ import annotations

from kobold_gui.emulator import Emulator, Faults, GenerationRecord

#: Faults that garble the SSE framing but must never change the text.
FRAMING_FAULTS = {
    "garbage": Faults(garbage_events=True),
    "split-utf8": Faults(split_utf8=True),
    "crlf": Faults(crlf=True),
    "comments": Faults(comments=True),
    "all-framing": Faults(crlf=True, comments=True, garbage_events=True, split_utf8=True),
}


def assert_chain_is_ground_truth(emu: Emulator, shown: str, prompt: str) -> list[GenerationRecord]:
    """Each request continued exactly where the previous one's text ended; nothing lost.

    After a broken stream the client continues with a new request whose prompt ends with the
    text so far, so the ground truth is the chain of the emulator's records.
    """
    records = [r for r in emu.generations if r.prompt.startswith(prompt)]
    assert records
    so_far = ""
    for rec in records:
        assert rec.prompt == prompt + so_far
        so_far += rec.text
    last = records[-1]
    assert last.aborted_by is None
    assert last.text == emu.expected_text(last.prompt, last.max_length)
    assert shown == so_far
    return records
