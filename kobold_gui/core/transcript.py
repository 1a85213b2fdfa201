"""The session as a document: who wrote each span (the user's prompt, the model, or text the
model generated that was recovered from the server after a broken stream).

Appends merge into the last segment when it has the same kind, so a long stream stays a
handful of segments. Serialised as versioned JSON; unknown versions and corrupt input raise a
clear error instead of loading something half-right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["prompt", "generated", "recovered"]
KINDS: tuple[str, ...] = ("prompt", "generated", "recovered")
FORMAT = "kobold_gui.transcript"
VERSION = 1


class TranscriptError(ValueError):
    """The file is not a transcript this version can read."""


@dataclass
class Segment:
    kind: Kind
    text: str


@dataclass
class Transcript:
    segments: list[Segment] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def add(self, kind: Kind, text: str) -> None:
        if not text:
            return
        if self.segments and self.segments[-1].kind == kind:
            self.segments[-1].text += text
        else:
            self.segments.append(Segment(kind, text))

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)

    def spans(self, kind: Kind) -> list[tuple[int, int]]:
        """(start, end) character offsets in `text` of every segment of `kind`."""
        out, pos = [], 0
        for s in self.segments:
            if s.kind == kind:
                out.append((pos, pos + len(s.text)))
            pos += len(s.text)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "metadata": self.metadata,
            "segments": [{"kind": s.kind, "text": s.text} for s in self.segments],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Transcript:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TranscriptError("This is not a kobold_gui transcript")
        if data.get("version") != VERSION:
            raise TranscriptError(
                f"Transcript version {data.get('version')!r} is not supported (this app reads "
                f"version {VERSION})")
        segments = data.get("segments")
        if not isinstance(segments, list):
            raise TranscriptError("The transcript has no list of segments")
        out = cls(metadata=dict(data.get("metadata") or {}))
        for i, seg in enumerate(segments):
            if (not isinstance(seg, dict) or seg.get("kind") not in KINDS
                    or not isinstance(seg.get("text"), str)):
                raise TranscriptError(f"Segment {i + 1} of the transcript is damaged")
            out.segments.append(Segment(seg["kind"], seg["text"]))
        return out
