"""KoboldAI Lite itself opens the story files we write.

Lite's loader (`is_kai_json` and `kai_json_load`, cut from its index.html) runs under Node with
its screen functions stubbed (tests/lite_harness.js), on what `dump_story(..., "lite")` wrote, and
what Lite then holds is compared with our story. Lite's code is AGPL and not in this repository:
set KOBOLD_LITE_HTML to one or more of its index.html files (os.pathsep-separated, e.g. the
v180 and v339 ones from LostRuins/lite.koboldai.net) and have `node` on PATH; without them the
test is skipped and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kobold_gui.core.story import AuthorsNote, Segment, Story, WorldInfoEntry
from kobold_gui.core.storyfiles import dump_story, load_story_bytes

DATA = Path(__file__).parent.parent / "data" / "formats"
HARNESS = Path(__file__).parent.parent / "lite_harness.js"
LITE_FILES = [p for p in os.environ.get("KOBOLD_LITE_HTML", "").split(os.pathsep) if p]
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    not (NODE and LITE_FILES),
    reason="needs node on PATH and KOBOLD_LITE_HTML pointing at KoboldAI Lite's index.html")


def written_by_us() -> dict[str, Story]:
    stories = {name: load_story_bytes((DATA / name).read_bytes())
               for name in ("lite_v180.json", "lite_v339.json", "kai_united_v2.json",
                            "sillytavern_chat.jsonl")}
    stories["ours"] = Story(
        [Segment("user", "Der Kobold 🙂 sagte: "), Segment("model", "„世界\nhallo“"),
         Segment("edited", " — and then?")],
        memory="Memory with \"quotes\" and\nnewlines",
        authors_note=AuthorsNote("Be brief.", "[Note: <|>]", 120),
        world_info=[WorldInfoEntry(keys=("Kobold", "kobold"), secondary_keys=("cave",),
                                   anti_keys=("sun",), content="Kobolds live in caves.",
                                   comment="lore", selective=True, constant=False,
                                   probability=60, group="Beings", disabled=True)])
    return stories


def lite_opens(html: str, path: Path) -> dict:
    done = subprocess.run([NODE, str(HARNESS), html, str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:] or done.stdout[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("html", LITE_FILES or ["-"])
@pytest.mark.parametrize("name", list(written_by_us()))
def test_lite_opens_what_we_write(html: str, name: str, tmp_path: Path) -> None:
    story = written_by_us()[name]
    path = tmp_path / "story.json"
    path.write_bytes(dump_story(story, "lite"))
    held = lite_opens(html, path)
    assert held["text"] == story.text
    assert held["memory"] == story.memory
    assert held["anote"] == story.authors_note.text
    assert held["anotetemplate"] == story.authors_note.template
    assert int(held["anote_strength"]) == story.authors_note.depth
    assert len(held["wi"]) == len(story.world_info)
    for lite, ours in zip(held["wi"], story.world_info, strict=True):
        assert [k.strip() for k in lite["key"].split(",") if k.strip()] == list(ours.keys)
        assert [k.strip() for k in lite["keysecondary"].split(",") if k.strip()] \
            == list(ours.secondary_keys)
        assert lite["content"] == ours.content and lite["comment"] == ours.comment
        assert bool(lite["selective"]) == ours.selective
        assert bool(lite["constant"]) == ours.constant
        # an absent key is what Lite itself reads as its default (probability 100, enabled)
        assert int(lite.get("probability") or 100) == ours.probability
        assert bool(lite.get("widisabled")) == ours.disabled
        assert (lite.get("wigroup") or "") == ours.group
    if "altbranches" in story.extra and "altbranches" in held and held["altbranches"]:
        assert held["altbranches"] == story.extra["altbranches"]
