"""The README's screenshots: the real window, connected to the emulator, in story, instruct and
chat mode, each with a different side panel in front.

The stories are written here (the emulator's own text is word salad); everything around them —
the view, the panels, the meter, the status bar — is the window as a user gets it.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_screenshots.py [OUT_DIR]
(default docs/screenshots). tests/ui/test_screenshots_modes.py runs it into a temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from kobold_gui.core.story import (
    AuthorsNote,
    GenerationMeta,
    ModeOptions,
    Segment,
    Story,
    WorldInfoEntry,
)

MODEL = "koboldcpp/Mistral-Nemo-Instruct-2407-Q5_K_M"


def _meta(tokens: int, seconds: float) -> GenerationMeta:
    return GenerationMeta(model=MODEL, tokens=tokens, finish_reason="stop",
                          time_to_first_token=0.42, elapsed=seconds,
                          tokens_per_second=round(tokens / seconds, 1))


def story_mode() -> Story:
    return Story([
        Segment("user", "The lighthouse keeper had not spoken to anyone in eleven years. On "
                        "the morning the boat came, she was mending the lamp's brass collar "
                        "and did not look up until its engine coughed and died below the "
                        "rocks.\n\n"),
        Segment("model", "She wiped her hands on her apron and went down the hundred and "
                         "twelve steps, counting them the way she always did, as if the number "
                         "might have changed in the night. At the bottom a young man was "
                         "trying to tie a rope to the iron ring with fingers that had clearly "
                         "never tied anything to anything.\n\n\"You'll lose her like that,\" "
                         "Mara said. Her voice came out rough, a door that had not been opened "
                         "in a long time.\n\nHe looked up, startled, and the rope slid "
                         "through his hands. \"I was told nobody lived here.\"\n\n\"Nobody "
                         "does,\" she said, and took the rope from him.", _meta(118, 2.9)),
        Segment("user", "\n\nHe had brought letters. "),
        Segment("model", "A whole sack of them, salt-stiff and tied with twine, every one "
                         "addressed to the keeper of the Varn light, and the oldest was "
                         "postmarked the winter she had stopped going into town.",
                _meta(41, 1.1)),
    ], memory="Mara Venn, sixty, keeper of the Varn lighthouse; stubborn, dry, kind when "
              "nobody is watching. The story is quiet literary fiction.",
       authors_note=AuthorsNote("Keep the prose spare; let the sea be a presence."),
       world_info=[
           WorldInfoEntry(keys=("Varn", "lighthouse"), content="The Varn light stands on a "
                          "basalt stack two miles off the coast; the lamp is paraffin.",
                          comment="The lighthouse"),
           WorldInfoEntry(keys=("letters", "sack"), content="Mara's sister Ilse wrote every "
                          "week for eleven years; Mara never opened one.",
                          comment="Ilse's letters"),
           WorldInfoEntry(keys=("harbour master",), content="Tobias Hale, who sends the "
                          "supply boat.", comment="Tobias", group="People"),
       ])


def instruct_mode() -> Story:
    return Story([
        Segment("user", "Give me three opening lines for a ghost story set on a night "
                        "train, each in a different tone."),
        Segment("model", "\n\n<think>\nThree tones: dread, wry, tender. Keep each one "
                         "sentence, concrete, and end on something wrong.\n</think>\n"
                         "1. **Dread** — The conductor punched my ticket twice, and the "
                         "second hole was already there.\n2. **Wry** — The night train to "
                         "Lviv was haunted, which would have been fine if the ghost had not "
                         "insisted on the window seat.\n3. **Tender** — Somewhere after "
                         "midnight my mother sat down across from me, eleven years dead, "
                         "and asked if I had eaten.", _meta(96, 2.4)),
        Segment("user", "\n\nTake the third one and write the next paragraph."),
        Segment("model", "\n\nI told her I had, which was a lie, and she knew it the way she "
                         "had always known, by looking at my hands. Outside, the fields "
                         "went by in the dark like something being unrolled for us alone. "
                         "She did not ask where I was going. She asked whether I still "
                         "salted the water before the pasta, and when I said yes she "
                         "smiled at the window, at her own reflection that was not there.",
                _meta(88, 2.2)),
    ], mode="instruct",
       mode_options=ModeOptions(instruct_template="ChatML",
                                system_prompt="You are a careful fiction editor. Answer "
                                              "briefly and concretely."))


def chat_mode() -> Story:
    return Story([
        Segment("user", "I think the map is wrong. The river should be on our left."),
        Segment("model", "\n\nIt was on our left an hour ago. Rivers do that here — they get "
                         "bored. Hand me the compass and stop looking at me like that.",
                _meta(35, 0.9)),
        Segment("user", "\n\nFine. But if we end up at the bog again, you're carrying the "
                        "lantern."),
        Segment("model", "\n\nDeal. And if we end up at the bog again, I'm telling everyone at "
                         "the inn it was your idea to trust a map drawn by a goat.",
                _meta(37, 1.0)),
    ], mode="chat", mode_options=ModeOptions(user_name="Wren", bot_name="Osric"),
       memory="Osric is a sardonic half-elf guide; Wren is a cartographer's apprentice.")


async def _shoot(out: Path) -> list[Path]:
    from kobold_gui.emulator import Emulator, EmulatorConfig
    from kobold_gui.ui.controller import Controller
    from kobold_gui.ui.main_window import MainWindow

    emu = Emulator(EmulatorConfig(model=MODEL, context_length=16384, version="1.100",
                                  token_rate=0)).start()
    window = MainWindow(Controller(emu.url))
    window.resize(1280, 800)
    window.show()
    window.connect_to_server()
    paths: list[Path] = []
    try:
        for _ in range(200):
            if window.state_text() == "connected":
                break
            await asyncio.sleep(0.05)
        window.settings_panel.set_values({"max_context_length": 16384, "max_length": 512})
        shots = (("story", story_mode(), "contextDock"),
                 ("instruct", instruct_mode(), "modeDock"),
                 ("chat", chat_mode(), "settingsDock"))
        for name, story, dock_name in shots:
            window.set_story(story)
            from PySide6.QtWidgets import QDockWidget
            dock = window.findChild(QDockWidget, dock_name)
            assert dock is not None, dock_name
            dock.show()
            dock.raise_()
            window.editor.set_prompt("")
            await asyncio.sleep(1.5)  # the meter's debounced count, the view's first paint
            path = out / f"window_{name}.png"
            assert window.grab().save(str(path)), path
            paths.append(path)
    finally:
        await window.controller.aclose()
        window.close()
        emu.stop()
    return paths


def make_screenshots(out: Path) -> list[Path]:
    """Write window_story.png, window_instruct.png, window_chat.png into `out`."""
    from PySide6.QtWidgets import QApplication

    from kobold_gui.ui.qtloop import install_loop

    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    loop = install_loop(app)  # type: ignore[arg-type]
    with loop:
        return loop.run_until_complete(_shoot(out))


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "screenshots"
    for written in make_screenshots(target):
        print(written)
