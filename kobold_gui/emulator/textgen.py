"""Deterministic fake language model, tokenizer and stop-sequence rules.

Each next token is a pure function of (seed, full context text so far): the context is fed
into a keyed BLAKE2b hash and the digest picks the token. Consequences that tests rely on:

* the same prompt always yields the same tokens (for a given seed);
* a prompt that already ends with generated text continues exactly where the original
  generation went on, because the hash state only depends on the concatenated text;
* EOS (when ``eos_chance`` > 0) is drawn from the same digest, so it is deterministic too.

The tokenizer (`tokenize`, behind ``/api/extra/tokencount``) reads generated text back into
exactly the tokens that were generated: no token followed by others spells a longer token, so a
longest-match split is unambiguous. Clients can count what they hold and get what was generated.

The vocabulary mixes plain words with leading spaces, punctuation, newlines and multi-byte
UTF-8 (Latin accents, CJK, curly quotes, an astral emoji) so clients meet every encoding case.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

#: (token, weight). Weights make the text look like the captures: mostly words.
VOCABULARY: tuple[tuple[str, int], ...] = (
    *((w, 10) for w in (
        " the", " a", " and", " to", " of", " was", " she", " he", " they", " one", " two",
        " five", " hundred", " took", " went", " said", " wanted", " jumped", " looked",
        " gave", " came", " played", " happy", " brave", " dark", " tiny", " clever", " young",
        " big", " very", " after", " because", " those", " then", " while", " always",
        " treasure", " sailor", " wizard", " witch", " knight", " forest", " mountain",
        " road", " door", " book", " song", " friend", " stranger", " children", " magic",
        " storm", " night", " tree", " hills", " castle", " river", " queen", " gift",
        " Once", " Big", " Into", " Sailor", " Tree", " Ten",
    )),
    *((s, 3) for s in ("ed", "ing", "s", "ly")),
    (",", 14), (".", 12), ("!", 2), ("?", 2), (":", 2), (";", 1), ('"', 2), ("'", 1),
    (" -", 1), ("\n", 10),
    (" São", 3), (" über", 3), (" café", 3), (" niño", 2), ("é", 2), ("è", 1), ("ö", 1),
    ("“", 2), ("”", 2), ("—", 1), ("π", 2), ("世界", 2), ("こんにちは", 2), (" 🙂", 2),
)

_TOKENS: tuple[str, ...] = tuple(t for t, _ in VOCABULARY)
_CUMULATIVE: tuple[int, ...] = tuple(
    sum(w for _, w in VOCABULARY[: i + 1]) for i in range(len(VOCABULARY))
)
_TOTAL_WEIGHT = _CUMULATIVE[-1]

#: How a stop happened, as the native layer reports it (perf ``stop_reason``).
STOP_ERROR = -1
STOP_LENGTH = 0
STOP_EOS = 1
STOP_SEQUENCE = 2

MAX_STOP_SEQUENCES = 32

BOS_ID = 1
_PIECE_RE = re.compile(r" ?\w{1,8}|\s|[^\w\s]")


def finish_reason_for(stop_reason: int) -> str:
    """1.76 maps only EOS to "stop"; max length, stop strings, aborts and errors are "length"."""
    return "stop" if stop_reason == STOP_EOS else "length"


#: vocabulary tokens by their first character, longest first (for the longest-match split)
_BY_FIRST: dict[str, tuple[str, ...]] = {
    first: tuple(sorted((t for t in _TOKENS if t[0] == first), key=len, reverse=True))
    for first in {t[0] for t in _TOKENS}
}


def pieces(text: str) -> Iterator[str]:
    """Split `text` into tokens: the longest vocabulary token at each place, else a word
    (with its leading space), a whitespace character or a symbol.

    Generated text comes back as exactly the tokens the model generated.
    """
    i, n = 0, len(text)
    while i < n:
        for token in _BY_FIRST.get(text[i], ()):
            if text.startswith(token, i):
                break
        else:
            match = _PIECE_RE.match(text, i)
            token = match.group(0) if match else text[i]
        yield token
        i += len(token)


def tokenize(text: str, add_bos: bool = True) -> list[int]:
    """Deterministic fake tokenizer (see `pieces`).

    Ids are stable across runs (CRC32 based, not ``hash()``) and never collide with BOS (1).
    """
    ids = [BOS_ID] if add_bos else []
    ids.extend(zlib.crc32(p.encode("utf-8")) % 31997 + 3 for p in pieces(text))
    return ids


@dataclass(frozen=True)
class Step:
    """One step of the model: a token (None = EOS) and whether a stop sequence fired."""

    token: str | None
    stop_reason: int | None = None  # STOP_EOS / STOP_SEQUENCE when this step ends generation


class TextModel:
    """The deterministic token source. Thread-safe: it holds no mutable state."""

    def __init__(self, seed: int, eos_chance: float = 0.0) -> None:
        self.seed = seed
        self.eos_chance = eos_chance
        self._key = hashlib.blake2b(str(seed).encode(), digest_size=32).digest()

    def _hasher(self, context: str) -> hashlib.blake2b:
        h = hashlib.blake2b(key=self._key, digest_size=16, person=b"kobold-emu")
        h.update(context.encode("utf-8", "surrogatepass"))
        return h

    def steps(
        self,
        context: str,
        max_length: int,
        stop_sequence: Sequence[str] = (),
        ban_eos: bool = False,
    ) -> Iterator[Step]:
        """Yield up to ``max_length`` steps for ``context``; the caller paces/aborts between them.

        Stop sequences are matched on the generated text only (not the prompt), after each
        token; the token that completes one is included. EOS is yielded as ``Step(None, 1)``.
        """
        h = self._hasher(context)
        text = ""
        longest_stop = max((len(s) for s in stop_sequence), default=0)
        for _ in range(max(0, max_length)):
            digest = h.copy().digest()
            u_eos = int.from_bytes(digest[:8], "big") / 2.0**64
            if self.eos_chance > 0 and not ban_eos and u_eos < self.eos_chance:
                yield Step(None, STOP_EOS)
                return
            pick = int.from_bytes(digest[8:], "big") % _TOTAL_WEIGHT
            token = _TOKENS[bisect.bisect_right(_CUMULATIVE, pick)]
            h.update(token.encode("utf-8"))
            text += token
            if stop_sequence:
                tail = text[-(len(token) + longest_stop) :]
                if any(s in tail for s in stop_sequence):
                    yield Step(token, STOP_SEQUENCE)
                    return
            yield Step(token)

    def generate(
        self,
        context: str,
        max_length: int,
        stop_sequence: Sequence[str] = (),
        ban_eos: bool = False,
    ) -> tuple[list[str], int]:
        """All tokens at once plus the native stop reason (ground truth for tests)."""
        tokens: list[str] = []
        for step in self.steps(context, max_length, stop_sequence, ban_eos):
            if step.token is not None:
                tokens.append(step.token)
            if step.stop_reason is not None:
                return tokens, step.stop_reason
        return tokens, STOP_LENGTH


def normalize_stop_sequence(value: object) -> list[str]:
    """The server's reading of ``stop_sequence``: a list, or a bare string = its characters.

    First 32 entries used, ``None``/empty entries skipped. Raises TypeError for shapes the
    1.76 server chokes on (numbers, objects, non-string entries).
    """
    if value is None or value == [] or value == "":
        return []
    if isinstance(value, str):
        items: list[object] = list(value)
    elif isinstance(value, list):
        items = list(value)
    else:
        raise TypeError(f"stop_sequence must be a list, got {type(value).__name__}")
    out: list[str] = []
    for item in items[:MAX_STOP_SEQUENCES]:
        if item is None or item == "":
            continue
        if not isinstance(item, str):
            raise TypeError("stop_sequence entries must be strings")
        out.append(item)
    return out


def first_stop_index(text: str, stop_sequence: Sequence[str]) -> int | None:
    """Index of the earliest occurrence of any stop string in ``text``, or None."""
    hits = [i for i in (text.find(s) for s in stop_sequence if s) if i != -1]
    return min(hits) if hits else None


def trim_at_stop(text: str, stop_sequence: Sequence[str]) -> str:
    """Cut ``text`` at the first occurrence of any stop string (what trim_stop / Lite do)."""
    index = first_stop_index(text, stop_sequence)
    return text if index is None else text[:index]


def chunk_may_start_stop(chunk: str, stop_sequence: Sequence[str]) -> bool:
    """The 1.76 stream hold-back test (``string_contains_sequence_substring``).

    Both sides are whitespace-stripped; a whitespace-only chunk is never held, which is why
    stop strings starting with a newline leak into the stream.
    """
    stripped = chunk.strip()
    if stripped == "":
        return False
    for stop in stop_sequence:
        s = stop.strip()
        if s and (s in stripped or stripped in s):
            return True
    return False
