"""SillyTavern chat JSONL: import to read and continue, export to Lite and re-import."""

from __future__ import annotations

import json
from pathlib import Path

from kobold_gui.core import formats

CHAT = (Path(__file__).parent.parent / "data" / "formats" / "sillytavern_chat.jsonl").read_bytes()


def test_chat_becomes_user_and_model_segments_in_chat_mode() -> None:
    story = formats.load(CHAT)
    assert story.mode == "chat"
    # The empty message is skipped, as Lite's own importer does.
    assert story.segments == [
        ("model", "Seraphina: *She smiles.* Welcome to the glade."),
        ("user", "\nAna: Where am I?"),
        ("model", "\nSeraphina: Safe, for now."),
    ]


def test_names_and_every_message_field_are_kept() -> None:
    story = formats.load(CHAT)
    assert story.extra["user_name"] == "Ana"
    assert story.extra["character_name"] == "Seraphina"
    kept = story.extra["sillytavern"]
    assert kept["metadata"]["chat_metadata"]["note_depth"] == 4
    assert kept["messages"][0]["swipes"] == ["Hello, traveller.",
                                             "*She smiles.* Welcome to the glade."]
    assert kept["messages"][3]["extra"] == {"api": "koboldcpp", "model": "mythomax"}


def test_import_export_reimport_keeps_the_text() -> None:
    story = formats.load(CHAT)
    lite = formats.dump(story, "lite")
    assert formats.detect(lite) == "lite"
    again = formats.load(lite)
    assert again.text == story.text
    assert again.extra["sillytavern"] == story.extra["sillytavern"]


def test_a_chat_without_metadata_line_is_recognised_by_its_messages() -> None:
    lines = CHAT.splitlines()[1:]
    data = b"\n".join(lines) + b"\n"
    assert formats.detect(data) == "sillytavern"
    assert formats.load(data).text == formats.load(CHAT).text


def test_a_new_chat_with_only_its_metadata_line_loads_empty() -> None:
    header = CHAT.splitlines()[0]
    assert formats.detect(header) == "sillytavern"
    story = formats.load(header)
    assert story.segments == [] and story.extra["character_name"] == "Seraphina"


def test_crlf_line_endings_are_accepted() -> None:
    assert formats.load(CHAT.replace(b"\n", b"\r\n")).text == formats.load(CHAT).text


def test_a_message_with_non_text_mes_does_not_crash() -> None:
    data = CHAT + json.dumps({"name": "Ana", "is_user": True, "mes": 42}).encode() + b"\n"
    assert formats.load(data).segments[-1] == ("user", "\nAna: 42")
