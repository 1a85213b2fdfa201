"""Any story file we read, as a Story; a Story in any format we write.

Our own format is parsed by the story model; foreign ones (KoboldAI Lite, KoboldAI United,
SillyTavern, plain text) go through `formats`' neutral StoryData, mapped here field by field so
that what a foreign file holds and we do not understand survives a round trip.
"""

from __future__ import annotations

from .formats import StoryData, detect, dump, lite, load
from .formats.model import FormatError
from .story import Alternatives, Author, AuthorsNote, Branch, Mode, Segment, Story

#: what `kobold-story convert --to` and the window's Save As offer
FORMATS = {"kobold": "kobold_gui story (JSON)", "lite": "KoboldAI Lite story (JSON)",
           "markdown": "Markdown", "text": "plain text"}
_AUTHOR_OF: dict[str, Author] = {"user": "user", "model": "model", "recovered": "recovered",
                                  "edited": "edited"}
_MODE_OF: dict[str, Mode] = {"story": "story", "instruct": "instruct", "chat": "chat",
                             "adventure": "adventure"}

StoryFileError = FormatError


#: how every file our writer makes begins (a cheap test that spares a whole-file parse)
OWN_PREFIX = b'{"format": "kobold_gui.story"'


def load_story_bytes(data: bytes) -> Story:
    """Detect the format from the content (never the name) and read it."""
    return read_story_bytes(data)[0]


def read_story_bytes(data: bytes) -> tuple[Story, str]:
    """(story, detected format name as `formats.detect` gives it). Our own files are parsed
    once, a segment at a time; foreign ones are classified, then read."""
    if data.startswith(OWN_PREFIX):
        return Story.from_json(data), "kobold_gui"
    fmt = detect(data)
    if fmt == "kobold_gui":
        return Story.from_json(data), fmt
    return from_data(load(data)), fmt


#: detected format (core.formats.detect) -> the format Save writes back to the same file;
#: the others (SillyTavern chats, Lite share text, United, plain text) are imports: Save asks
#: for a new file rather than rewrite theirs in another shape or lose their structure.
SAVED_BACK_AS = {"kobold_gui": "kobold", "lite": "lite"}


def dump_story(story: Story, fmt: str) -> bytes:
    if fmt == "kobold":
        return story.to_json()
    if fmt not in FORMATS:
        raise FormatError(f"cannot write {fmt!r}: choose one of {', '.join(sorted(FORMATS))}")
    return dump(to_data(story), fmt)


def from_data(data: StoryData) -> Story:
    mode = _MODE_OF.get(data.mode, "story")
    extra = dict(data.extra)
    if mode != data.mode:
        extra.setdefault("foreign_mode", data.mode)
    replies = list(data.replies)
    if len(replies) != len(data.segments):
        # a format that does not say: each model chunk is a reply of its own (as in Lite)
        replies = [n + 1 if author == "model" else None
                   for n, (author, _) in enumerate(data.segments)]
    segments = [Segment(_AUTHOR_OF.get(author, "user"), text, reply=reply)
                for (author, text), reply in zip(data.segments, replies, strict=True)]
    present = {r for r in replies if r is not None}
    alternatives = {
        reply: Alternatives(tuple(None if v is None else (Segment("model", v, reply=reply),)
                                  for v in versions))
        for reply, versions in data.alternatives.items()
        if reply in present and versions.count(None) == 1}
    number = max(present, default=0)
    branches: list[Branch | None] = []
    for chunks in data.branches:
        if chunks is None:
            branches.append(None)
            continue
        # Lite does not say who wrote a chunk: the first is taken as the user's prompt
        branch = []
        for i, text in enumerate(chunks):
            number += 1
            branch.append(Segment("user", text) if i == 0 else Segment("model", text,
                                                                        reply=number))
        branches.append(Branch(tuple(branch)))
    return Story(
        segments,
        memory=data.memory,
        authors_note=AuthorsNote(data.authors_note, data.an_template or AuthorsNote().template,
                                 data.an_depth),
        world_info=data.world_info,
        mode=mode, extra=extra,
        mode_options=data.mode_options, wi_options=data.wi_options,
        alternatives=alternatives, branches=branches,
    )


def to_data(story: Story) -> StoryData:
    note = story.authors_note
    extra = dict(story.extra)
    mode = str(extra.pop("foreign_mode", story.mode))
    segments = story.segments
    return StoryData(
        segments=[(seg.author, seg.text) for seg in segments],
        memory=story.memory, authors_note=note.text, an_template=note.template,
        an_depth=note.depth,
        world_info=list(story.world_info),
        mode=mode, extra=extra,
        replies=[seg.reply for seg in segments],
        alternatives={
            reply: [None if v is None else "".join(s.text for s in v) for v in alts.versions]
            for reply, alts in story.all_alternatives.items()},
        branches=[None if b is None else [text for _, text, _ in lite.chunks_of(
            [(s.author, s.text) for s in b.segments], [s.reply for s in b.segments])]
            for b in story.branches],
        mode_options=story.mode_options, wi_options=story.wi_options,
    )
