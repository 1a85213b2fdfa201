"""The transcript records who wrote which span, and survives a round trip."""

import json

import pytest

from kobold_gui.core.transcript import Transcript, TranscriptError


def test_appends_merge_and_spans_mark_recovered_text():
    t = Transcript()
    t.add("prompt", "Once")
    t.add("generated", " upon")
    t.add("generated", " a")
    t.add("recovered", " time")
    t.add("generated", ".")
    assert t.text == "Once upon a time."
    assert [s.kind for s in t.segments] == ["prompt", "generated", "recovered", "generated"]
    assert t.spans("recovered") == [(11, 16)]
    assert t.text[11:16] == " time"


def test_round_trip_through_json():
    t = Transcript(metadata={"model": "koboldcpp/x"})
    t.add("prompt", "P")
    t.add("recovered", "é🙂")
    again = Transcript.from_dict(json.loads(json.dumps(t.to_dict())))
    assert again == t


@pytest.mark.parametrize("data, message", [
    ([], "not a kobold_gui transcript"),
    ({"format": "kobold_gui.transcript", "version": 99, "segments": []}, "version 99"),
    ({"format": "kobold_gui.transcript", "version": 1, "segments": [{"kind": "x"}]},
     "Segment 1"),
])
def test_corrupt_input_gives_a_clear_error(data, message):
    with pytest.raises(TranscriptError, match=message):
        Transcript.from_dict(data)
