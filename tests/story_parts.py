"""A story that uses every part our format keeps, shared by the core and the window tests that
check a copy or a kept session loses none of them."""

from __future__ import annotations

from kobold_gui.core.story import (
    AuthorsNote,
    GenerationMeta,
    ModeOptions,
    Story,
    WorldInfoEntry,
    WorldInfoOptions,
)


def every_part_story() -> Story:
    """Segments (one still streaming), memory, author's note, world info, the mode and its
    options, world-info options, extra fields, a reply retried (two versions) and a branch."""
    story = Story(memory="The keeper is Mira.", authors_note=AuthorsNote(text="Rainy.", depth=80),
                  world_info=[WorldInfoEntry(keys=("Mira",), content="A kobold.",
                                             extra={"uid": 7})],
                  mode="chat", extra={"lite_only": [1, 2]},
                  mode_options=ModeOptions(bot_name="Mira", user_name="Ann",
                                           custom_template={"user_start": "<u>"}),
                  wi_options=WorldInfoOptions(search_depth=500, case_sensitive=True))
    story.append_segment("user", "Once. ")
    number = story.new_reply_id()
    story.append_segment("model", "first", GenerationMeta(model="m", finish_reason="stop"),
                         reply=number)
    story.begin_retry(number)
    story.append_segment("model", "sec", undo_step=False, reply=number)
    story.append_text(-1, "ond")
    story.finish_segment(len(story.segments) - 1, GenerationMeta(model="m", tokens=2))
    story.branch_from(None)
    story.append_segment("user", " And then")
    story.append_text(-1, " more")  # still in the stream's tail, not folded yet
    return story
