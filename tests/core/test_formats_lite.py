"""Lite saves (v180 and v339 shapes), the share shapes and United v2: read, write, round trip."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from kobold_gui.core import formats
from kobold_gui.core.formats import StoryData, WorldInfoEntry

DATA = Path(__file__).parent.parent / "data" / "formats"

# generate_base_storyobj plus the extras generate_savefile always writes, with their types.
LITE_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "gamestarted": bool, "prompt": str, "memory": str, "authorsnote": str,
    "anotetemplate": str, "actions": list, "actions_metadata": dict, "worldinfo": list,
    "wifolders_d": dict, "wifolders_l": list, "anotestr": (int, str),
    "wisearchdepth": (int, str), "wiinsertlocation": (int, str),
}


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def as_json(data: bytes) -> Any:
    return json.loads(data)


@pytest.mark.parametrize("name", ["lite_v180.json", "lite_v339.json"])
def test_an_unchanged_lite_save_is_written_back_identical(name: str) -> None:
    original = as_json(raw(name))
    written = as_json(formats.dump(formats.load(raw(name)), "lite"))
    assert written == original


@pytest.mark.parametrize("name", ["lite_v180.json", "lite_v339.json", "kai_united_v2.json",
                                  "lite_share.json", "sillytavern_chat.jsonl"])
def test_load_dump_load_gives_the_same_story(name: str) -> None:
    story = formats.load(raw(name))
    again = formats.load(formats.dump(story, "lite"))
    assert again.text == story.text
    assert (again.memory, again.authors_note, again.an_template, again.an_depth) == (
        story.memory, story.authors_note, story.an_template, story.an_depth)
    assert [dataclasses.replace(e, extra={}) for e in again.world_info] == [
        dataclasses.replace(e, extra={}) for e in story.world_info]
    assert again.mode == story.mode or story.extra.get("savedsettings") is None
    if formats.detect(raw(name)) == "lite":
        assert again == story


def test_v180_save_reads_every_field() -> None:
    story = formats.load(raw("lite_v180.json"))
    assert story.text == ("The lighthouse keeper counted the ships. One, two, three."
                          "\nThen the fog came.")
    assert story.segments[0] == ("user", "The lighthouse keeper counted the ships.")
    assert story.memory == "Mara keeps the lighthouse on Skerry Isle."
    assert (story.authors_note, story.an_template, story.an_depth) == (
        "Tense, slow.", "[Author's note: <|>]", 320)
    mara, fog = story.world_info
    assert mara.keys == ("Mara", "keeper") and mara.comment == "main character"
    assert not mara.selective and mara.probability == 100 and not mara.disabled
    assert fog.secondary_keys == ("night", "storm") and fog.anti_keys == ("day",)
    assert fog.selective and fog.constant and fog.probability == 50
    assert story.mode == "story"
    # Legacy top-level keys v339 moved into savedsettings are kept where they were.
    assert story.extra["extrastopseq"] == "###,\\nYou:"
    assert story.extra["logitbiasdict"] == {"1234": -100}


def test_v339_save_accepts_numbers_written_as_strings() -> None:
    story = formats.load(raw("lite_v339.json"))
    assert story.an_depth == 160
    kade, city = story.world_info
    assert kade.group == "People" and kade.probability == 100
    assert city.keys == ("neon", "city") and city.anti_keys == ("sun", "desert")
    assert city.disabled and city.probability == 80
    assert story.mode == "chat"  # savedsettings.opmode "3"
    # An empty prompt is skipped by Lite: the story is the actions alone.
    assert story.text == 'Rain on neon. Kade lit a cigarette. "You\'re late," she said.'


@pytest.mark.parametrize("key", ["altbranches", "savedsettings", "savedaestheticsettings",
                                 "documentdb_data", "completed_imgs_meta", "personal_notes",
                                 "wisearchdepth", "wiinsertlocation", "newlineaftermemory"])
def test_keys_we_do_not_understand_survive_byte_for_byte(key: str) -> None:
    original = as_json(raw("lite_v339.json"))[key]
    story = formats.load(raw("lite_v339.json"))
    edited = dataclasses.replace(story, segments=[*story.segments, ("user", " More.")],
                                 memory="new memory")
    written = formats.dump(edited, "lite")
    encoded = json.dumps(original, ensure_ascii=False, separators=(",", ":")).encode()
    assert f'"{key}":'.encode() + encoded in written


def test_edits_are_written_in_the_type_the_file_used() -> None:
    v339 = formats.load(raw("lite_v339.json"))
    v180 = formats.load(raw("lite_v180.json"))
    assert as_json(formats.dump(dataclasses.replace(v339, an_depth=480), "lite"))[
        "anotestr"] == "480"
    assert as_json(formats.dump(dataclasses.replace(v180, an_depth=480), "lite"))[
        "anotestr"] == 480
    city = dataclasses.replace(v339.world_info[1], keys=("neon",), probability=60)
    out = as_json(formats.dump(dataclasses.replace(v339, world_info=[city]), "lite"))
    assert out["worldinfo"][0]["key"] == "neon"
    assert out["worldinfo"][0]["probability"] == "60"
    assert out["worldinfo"][0]["widisabled"] is True
    as_story = dataclasses.replace(v339, mode="story")
    assert as_json(formats.dump(as_story, "lite"))["savedsettings"]["opmode"] == "1"


def test_a_story_written_from_scratch_has_every_key_lite_requires() -> None:
    story = StoryData(
        segments=[("user", "Hello"), ("model", " world"), ("edited", "!")],
        memory="m", authors_note="a", an_template="[AN: <|>]", an_depth=160,
        world_info=[WorldInfoEntry(keys=("x", "y"), content="c", selective=True,
                                   secondary_keys=("z",), group="g", probability=70)],
    )
    out = as_json(formats.dump(story, "lite"))
    for key, kind in LITE_REQUIRED.items():
        assert isinstance(out[key], kind), key
    assert "file_version" not in out  # its presence would make Lite read United v2
    assert out["prompt"] == "Hello" and out["actions"] == [" world", "!"]
    assert sorted(out["actions_metadata"]) == ["0", "1"]
    assert out["worldinfo"] == [{
        "key": "x,y", "keysecondary": "z", "keyanti": "", "content": "c", "comment": "",
        "folder": None, "selective": True, "constant": False, "probability": 70,
        "wigroup": "g", "widisabled": False}]
    assert formats.load(formats.dump(story, "lite")).text == "Hello world!"


def test_a_story_not_starting_with_user_text_keeps_every_chunk_in_actions() -> None:
    story = StoryData(segments=[("model", "A"), ("user", "B")])
    out = as_json(formats.dump(story, "lite"))
    assert out["prompt"] == "" and out["actions"] == ["A", "B"]


def test_stale_action_copies_in_metadata_are_cleared() -> None:
    story = formats.load(raw("lite_v180.json"))
    edited = dataclasses.replace(story, segments=[story.segments[0], ("edited", " Four.")])
    meta = as_json(formats.dump(edited, "lite"))["actions_metadata"]
    assert meta == {"0": {"Selected Text": "", "Alternative Text": []}}


def test_united_v2_save_reads_story_memory_note_and_world_info() -> None:
    story = formats.load(raw("kai_united_v2.json"))
    # Actions are taken in numeric key order, as JavaScript's for-in visits them.
    assert story.text == ("The station went dark at 03:00. Ivo reached for the radio."
                          " The backup lights flickered on.")
    assert (story.memory, story.authors_note, story.an_template) == (
        "Station Nine orbits Europa.", "Claustrophobic.", "[A/N: <|>]")
    ivo, europa = story.world_info
    assert ivo.keys == ("Ivo", "engineer")  # every key, where Lite keeps only the first
    assert europa.secondary_keys == ("ice",) and europa.anti_keys == ("earth",)
    assert europa.selective and europa.constant
    assert story.extra["story_name"] == "Station Nine"
    assert story.extra["kai_united"]["worldinfo_v2"]["folders"] == {"root": [0, 1]}


def test_united_v2_is_written_as_a_lite_save() -> None:
    out = as_json(formats.dump(formats.load(raw("kai_united_v2.json")), "lite"))
    assert "file_version" not in out and isinstance(out["actions"], list)
    assert out["worldinfo"][0]["key"] == "Ivo,engineer"
    assert out["genres"] == ["sci-fi"]
    assert formats.detect(formats.dump(formats.load(raw("kai_united_v2.json")), "lite")) == "lite"


def test_share_object_reads_ga_cm_ca_ct_cwi() -> None:
    story = formats.load(raw("lite_share.json"))
    assert story.text == "Once upon a time there was a fox."
    assert (story.memory, story.authors_note, story.an_template) == (
        "A fairy tale.", "Whimsical.", "[Note: <|>]")
    assert story.world_info[0].keys == ("fox",)
    assert story.extra["ess"] == "###"


@pytest.mark.parametrize("name", ["lite_v180.json", "lite_v339.json", "kai_united_v2.json"])
def test_compressed_share_text_round_trips(name: str) -> None:
    story = formats.load(raw(name))
    shared = formats.dump(story, "lite_share_text")
    assert shared.isascii() and b"=" not in shared and b"+" not in shared
    assert formats.detect(shared) == "lite_share_text"
    assert formats.load(shared) == formats.load(formats.dump(story, "lite"))


def test_savedsettings_alone_makes_a_story() -> None:
    data = json.dumps({"savedsettings": {"opmode": 4}, "actions": ["x"]}).encode()
    assert formats.detect(data) == "lite"
    story = formats.load(data)
    assert story.text == "x" and story.mode == "instruct"


def test_a_share_link_is_read_like_its_share_text() -> None:
    story = formats.load(raw("lite_v339.json"))
    shared = formats.dump(story, "lite_share_text").decode()
    link = f"https://lite.koboldai.net/?s={shared}".encode()
    assert formats.detect(link) == "lite_share_text"
    assert formats.load(link).text == story.text


def test_share_stop_sequences_are_written_where_a_save_keeps_them() -> None:
    out = as_json(formats.dump(formats.load(raw("lite_share.json")), "lite"))
    assert out["extrastopseq"] == "###"
