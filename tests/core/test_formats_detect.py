"""Format detection from content, and clear FormatErrors for corrupt or foreign files."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from kobold_gui.core import formats
from kobold_gui.core.formats import FormatError, StoryData

DATA = Path(__file__).parent.parent / "data" / "formats"
FIXTURES = sorted(p.name for p in DATA.iterdir())


@pytest.mark.parametrize(("content", "expected"), [
    ((DATA / "lite_v180.json").read_bytes(), "lite"),
    ((DATA / "lite_v339.json").read_bytes(), "lite"),
    ((DATA / "kai_united_v2.json").read_bytes(), "kai_united"),
    ((DATA / "lite_share.json").read_bytes(), "lite_share"),
    ((DATA / "sillytavern_chat.jsonl").read_bytes(), "sillytavern"),
    (formats.dump(StoryData(segments=[("user", "x")]), "lite_share_text"), "lite_share_text"),
    (b'{"format": "kobold_gui.story", "version": 1, "segments": []}', "kobold_gui"),
    (b'{"format": "kobold_gui.story", "version": 99}', "kobold_gui"),
    (b"Once upon a time.", "text"),
    (b"\xef\xbb\xbf{\"prompt\": \"bom\", \"actions\": [\"!\"]}", "lite"),
    (b"aGVsbG8gd29ybGQgdGhpcyBpcyBub3QgbHptYQ", "text"),
])
def test_detection_table(content: bytes, expected: str) -> None:
    assert formats.detect(content) == expected


def test_detection_ignores_the_name_and_uses_only_the_bytes() -> None:
    # The same bytes give the same answer whatever file they came from.
    for name in FIXTURES:
        data = (DATA / name).read_bytes()
        assert formats.detect(bytes(data)) == formats.detect(data + b"\n")


def test_our_own_format_is_recognised_but_left_to_the_story_model() -> None:
    with pytest.raises(FormatError, match="story model"):
        formats.load(b'{"format": "kobold_gui.story", "version": 1}')


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty"),
    (b"  \n ", "the file is empty"),
    (b'{"prompt": "a",\n "memory": "b",\n "actions": [', "ends early at line 3"),
    (b'{"prompt": "a" "memory": 1}', "broken JSON at line 1, column 16"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"\xff\xfe\xfa not utf-8", "not UTF-8"),
    (b'{"name": "Seraphina", "description": "a card"}', "without a story"),
    (b"[1, 2, 3]", "a list without a story"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (b'{"prompt": "a", "actions": "not a list"}', "actions is not a list"),
    (b'{"prompt": "a", "actions": ["x"], "worldinfo": {"key": "k"}}', "not a list"),
    (b'{"prompt": "a", "actions": ["x"], "worldinfo": ["k"]}', "entry 1 is not an object"),
])
def test_corrupt_or_foreign_input_gives_a_clear_format_error(content: bytes,
                                                              message: str) -> None:
    with pytest.raises(FormatError, match=message) as caught:
        formats.load(content)
    assert caught.value.message.startswith("not a")


def test_a_truncated_chat_names_the_broken_line() -> None:
    data = (DATA / "sillytavern_chat.jsonl").read_bytes()
    cut = data[: data.index(b"Safe, for")]
    with pytest.raises(FormatError, match="line 5 is not complete JSON"):
        formats.load(cut)


@pytest.mark.parametrize("name", [n for n in FIXTURES if n.endswith(".json")])
def test_every_truncation_of_a_json_story_is_a_format_error(name: str) -> None:
    data = (DATA / name).read_bytes().rstrip()
    for end in range(1, len(data), 7):
        with pytest.raises(FormatError):
            formats.load(data[:end])


def test_every_truncation_of_a_chat_loads_or_is_a_format_error() -> None:
    data = (DATA / "sillytavern_chat.jsonl").read_bytes()
    for end in range(1, len(data), 5):
        with contextlib.suppress(FormatError):
            formats.load(data[:end])


def test_hostile_values_inside_a_valid_save_do_not_crash() -> None:
    hostile = {"prompt": 5, "actions": [None, 3, {"a": 1}], "memory": ["x"],
               "anotestr": "lots", "worldinfo": [{"key": 7, "probability": None,
                                                  "selective": "yes"}],
               "savedsettings": [1, 2]}
    story = formats.load(json.dumps(hostile).encode())
    assert story.an_depth == 320 and story.world_info[0].keys == ()
    assert formats.load(formats.dump(story, "lite")).text == story.text


def test_writing_an_unknown_format_is_refused_clearly() -> None:
    with pytest.raises(FormatError, match="cannot write 'docx'"):
        formats.dump(StoryData(), "docx")
