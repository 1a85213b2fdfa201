"""Reply versions, branches and per-story options in KoboldAI Lite saves: written where Lite (or
KoboldAI, whose field Lite writes) keeps them, read back, and the file still opens in Lite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kobold_gui.core.story import GenerationMeta, ModeOptions, Story, WorldInfoOptions
from kobold_gui.core.storyfiles import dump_story, load_story_bytes

HARNESS = Path(__file__).parent.parent / "lite_harness.js"
LITE_FILES = [p for p in os.environ.get("KOBOLD_LITE_HTML", "").split(os.pathsep) if p]
NODE = shutil.which("node")


def retried(story: Story, number: int, text: str) -> None:
    story.begin_retry(number)
    story.append_segment("model", text, undo_step=False, reply=number)
    story.finish_segment(len(story.segments) - 1, GenerationMeta(finish_reason="stop"))


def story_with_versions() -> tuple[Story, int]:
    story = Story()
    story.append_segment("user", "The door opened.")
    number = story.new_reply_id()
    story.append_segment("model", " A cat", reply=number)
    story.append_segment("recovered", " walked in.", undo_step=False, reply=number)
    for text in (" A dog barked.", " Nobody.", " Rain."):
        retried(story, number, text)
    return story, number


def test_retry_three_times_keeps_all_four_versions_in_a_lite_file() -> None:
    story, number = story_with_versions()
    story.show_version(number, 1)
    saved = json.loads(dump_story(story, "lite"))
    assert saved["prompt"] == "The door opened." and saved["actions"] == [" A dog barked."]
    entry = saved["actions_metadata"]["0"]
    assert [a["Text"] for a in entry["Alternative Text"]] == [
        " A cat walked in.", " Nobody.", " Rain."]
    again = load_story_bytes(dump_story(story, "lite"))
    reply = again.last_reply()
    assert reply is not None and again.text == "The door opened. A dog barked."
    alts = again.alternatives(reply)
    assert alts is not None and len(alts) == 4 and alts.current == 1
    shown = []
    for index in range(4):
        again.show_version(reply, index)
        shown.append(again.text[len("The door opened."):])
    assert shown == [" A cat walked in.", " A dog barked.", " Nobody.", " Rain."]
    again.show_version(reply, 1)
    assert json.loads(dump_story(again, "lite")) == saved


def test_a_reply_in_several_segments_is_one_lite_chunk() -> None:
    story = Story()
    story.append_segment("user", "Hi.")
    number = story.new_reply_id()
    story.append_segment("model", " abc", reply=number)
    story.append_segment("recovered", "def", undo_step=False, reply=number)
    story.edit(len("Hi. ab"), len("Hi. ab"), "X")  # typed inside the reply
    story.edit(len(story), len(story), " Then.")  # typed after it
    saved = json.loads(dump_story(story, "lite"))
    assert saved["actions"] == [" abXcdef", " Then."]


def test_branches_are_lites_altbranches_and_come_back() -> None:
    story, number = story_with_versions()
    story.append_segment("user", " Next.")
    story.append_segment("model", " More.", reply=story.new_reply_id())
    whole = story.text
    story.branch_from(number)
    saved = json.loads(dump_story(story, "lite"))
    assert saved["altbranches"] == [["The door opened.", " Rain.", " Next.", " More."], None]
    again = load_story_bytes(dump_story(story, "lite"))
    assert again.text == "The door opened. Rain."
    assert len(again.branches) == 2 and again.active_branch == 1
    again.switch_branch(0)
    assert again.text == whole


def test_a_lite_altbranches_we_cannot_read_is_kept_as_it_was() -> None:
    raw = {"prompt": "p", "actions": ["a"], "altbranches": [{"odd": 1}]}
    story = load_story_bytes(json.dumps(raw).encode())
    assert story.branches == ()
    assert json.loads(dump_story(story, "lite"))["altbranches"] == [{"odd": 1}]


def test_mode_and_world_info_options_go_to_lites_fields_and_back() -> None:
    story = Story(mode="instruct")
    story.append_segment("user", "Hello")
    story.set_fields(mode_options=ModeOptions(instruct_template="ChatML",
                                              system_prompt="Be kind.\nAlways.",
                                              user_name="Ann", bot_name="Bot",
                                              keep_thinking=True),
                     wi_options=WorldInfoOptions(search_depth=800,
                                                 insert_location="before_note",
                                                 case_sensitive=True))
    saved = json.loads(dump_story(story, "lite"))
    settings = saved["savedsettings"]
    assert settings["instruct_starttag"] == "<|im_start|>user\\n"  # Lite's escaped form
    assert settings["instruct_endtag"] == "<|im_start|>assistant\\n"
    assert settings["instruct_sysprompt"] == "Be kind.\nAlways."
    assert (settings["chatname"], settings["chatopponent"]) == ("Ann", "Bot")
    assert settings["strip_thinking_mode"] == 0 and settings["case_sensitive_wi"] is True
    assert settings["opmode"] == 4
    assert saved["wisearchdepth"] == 800 and saved["wiinsertlocation"] == 1
    again = load_story_bytes(dump_story(story, "lite"))
    assert again.mode_options == story.mode_options
    assert again.wi_options == story.wi_options


def test_custom_tags_read_from_lite_are_a_custom_template() -> None:
    raw = {"prompt": "p", "actions": [], "savedsettings": {
        "opmode": 4, "instruct_starttag": "\\n<me>", "instruct_endtag": "\\n<you>",
        "instruct_systag": "", "unknown_key": [1]}}
    story = load_story_bytes(json.dumps(raw).encode())
    assert story.mode_options.instruct_template == "Custom"
    assert story.mode_options.custom_template["user_start"] == "\n<me>"
    assert json.loads(dump_story(story, "lite"))["savedsettings"] == raw["savedsettings"]


def test_lites_default_tags_are_koboldcpp_automatic() -> None:
    raw = {"prompt": "p", "savedsettings": {"instruct_starttag": "{{[INPUT]}}",
                                            "instruct_endtag": "{{[OUTPUT]}}",
                                            "instruct_systag": "{{[SYSTEM]}}",
                                            "instruct_starttag_end": ""}}
    story = load_story_bytes(json.dumps(raw).encode())
    assert story.mode_options.instruct_template == "KoboldCppAutomatic"


@pytest.mark.skipif(not (NODE and LITE_FILES),
                    reason="needs node on PATH and KOBOLD_LITE_HTML pointing at Lite's index.html")
@pytest.mark.parametrize("html", LITE_FILES or ["-"])
def test_lite_opens_our_versions_and_branches(html: str, tmp_path: Path) -> None:
    story, number = story_with_versions()
    story.branch_from(number)
    path = tmp_path / "story.json"
    path.write_bytes(dump_story(story, "lite"))
    done = subprocess.run([NODE or "node", str(HARNESS), html, str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    held = json.loads(done.stdout.strip().splitlines()[-1])
    assert held["text"] == story.text
    assert held["altbranches"] == [["The door opened.", " Rain."], None]
