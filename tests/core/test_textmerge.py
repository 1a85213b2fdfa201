"""The text accumulators: stream deltas and check snapshots merged into one text, never twice."""

from __future__ import annotations

import pytest

from kobold_gui.core.textmerge import RequestText, ShownText

# Each step: ("s", token) = a stream event, ("c", text) = a check answer, ("x", "") = an
# unreadable event, ("r", "") = reanchor after a check. Expected: the new text of each step.
CASES = {
    "stream only": ([("s", "Once"), ("s", " upon"), ("s", " a")], ["Once", " upon", " a"]),
    "check ahead, stream catches up": (
        [("s", "A"), ("c", "A b c"), ("s", " b"), ("s", " c"), ("s", " d")],
        ["A", " b c", "", "", " d"]),
    "stream event straddles the check": (
        [("c", "Hello wo"), ("s", "Hello"), ("s", " world")], ["Hello wo", "", "rld"]),
    "check behind the stream": ([("s", "abc"), ("c", "ab"), ("s", "d")], ["abc", "", "d"]),
    "unreadable, check makes it good, stream placed again": (
        [("s", "one"), ("x", ""), ("c", "one two"), ("s", " three"), ("c", "one two three"),
         ("r", ""), ("s", " four")],
        ["one", "", " two", "", " three", "", " four"]),
    "extra garbage that lost nothing": (
        [("s", "a"), ("x", ""), ("c", "a"), ("s", "b"), ("c", "ab"), ("r", ""), ("s", "c")],
        ["a", "", "", "", "b", "", "c"]),
    "unplaced events show nothing until placed": (
        [("s", "x"), ("x", ""), ("s", "y"), ("s", "z")], ["x", "", "", ""]),
}


@pytest.mark.parametrize("steps, expected", CASES.values(), ids=CASES.keys())
def test_merge_table(steps, expected):
    text = RequestText()
    got = []
    for kind, value in steps:
        if kind == "s":
            got.append(text.from_stream(value))
        elif kind == "c":
            got.append(text.from_check(value))
        elif kind == "x":
            text.lose_stream_position()
            got.append("")
        else:
            text.reanchor()
            got.append("")
    assert got == expected
    assert text.text == "".join(expected)
    assert text.divergence is None


def test_reanchor_refuses_ambiguous_text():
    text = RequestText()
    text.from_stream("ab")
    text.lose_stream_position()
    text.from_check("ab la la la")
    text.from_stream(" la")
    assert not text.reanchor()  # " la" appears three times after where the stream stood
    assert not text.stream_anchored
    text.from_stream(" la la")
    assert text.from_check("ab la la la la") == " la"
    assert not text.reanchor()
    assert text.text == "ab la la la la"


@pytest.mark.parametrize("held, record", [("abc", "abX def"), ("hello", "help me")])
def test_a_check_that_is_no_extension_is_refused_and_reported(held, record):
    text = RequestText()
    text.from_stream(held)
    assert text.from_check(record) == ""
    assert text.text == held  # kept as shown, nothing spliced in by length
    assert text.divergence


def test_unreadable_event_the_record_cannot_make_good_leaves_a_reported_gap():
    text = RequestText()
    text.from_stream("one")
    text.lose_stream_position()
    assert text.from_check("something else") == ""
    assert text.gaps == 1 and text.divergence
    assert text.from_stream(" three") == " three"  # the stream goes on after the gap
    assert text.text == "one three"


def test_stream_that_disagrees_with_check_is_reported():
    text = RequestText()
    text.from_check("abcd")
    assert text.from_stream("abXdef") == "ef"
    assert text.divergence


@pytest.mark.parametrize("held, record, agrees", [
    ("abc", "abc", True), ("abc", "abcdef", True), ("abc", "", True), ("abc", "ab", True),
    ("abc", "xyz", False),
])
def test_end_comparison(held, record, agrees):
    text = RequestText()
    text.from_stream(held)
    assert text.agrees_with(record) is agrees
    assert (text.divergence is None) is agrees


def test_many_events_are_kept_without_joining_each_time():
    text = RequestText()
    for i in range(20000):
        text.from_stream(str(i % 10))
    assert text.length == 20000 and text.text.startswith("0123456789")
    assert len(text._held._parts) == 1  # joined once, when asked for


def test_shown_text_marks_recovered_spans_and_merges_neighbours():
    shown = ShownText()
    for piece, recovered in [("ab", False), ("cd", True), ("ef", True), ("", True),
                             ("g", False), ("h", True)]:
        shown.append(piece, recovered)
    assert shown.text == "abcdefgh"
    assert shown.recovered == [(2, 6), (7, 8)]
