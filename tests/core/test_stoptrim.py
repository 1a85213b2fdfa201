"""Client-side stop trimming: nothing of a stop sequence is ever shown, nothing else is lost."""

import random

from kobold_gui.core.stoptrim import StopTrimmer


def run(chunks, stops):
    t = StopTrimmer(stops)
    shown = [t.feed(c) for c in chunks]
    shown.append(t.flush())
    return "".join(shown), shown, t


def test_cut_at_stop_split_across_chunks():
    text, shown, t = run(["Hi", " there", "\n", "You", ":", " more"], ["\nYou:"])
    assert text == "Hi there"
    assert t.hit
    # The newline was held back until it was clear it starts the stop sequence.
    assert "\n" not in "".join(shown)


def test_held_text_is_released_when_it_is_not_a_stop():
    text, _, t = run(["a\n", "Yo", "-yo"], ["\nYou:"])
    assert text == "a\nYo-yo" and not t.hit


def test_no_stops_passes_everything_through():
    assert run(["a", "b"], [])[0] == "ab"


def test_random_chunkings_agree_with_a_plain_cut():
    rng = random.Random(7)
    alphabet = ["a", "b", "\n", "U", ":", "é", "世"]
    for _ in range(500):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        stops = ["\nU:", "ab", "世界"][: rng.randint(1, 3)]
        cuts = sorted(rng.sample(range(len(raw) + 1), k=min(len(raw) + 1, rng.randint(0, 6))))
        chunks = [raw[i:j] for i, j in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        hits = [raw.find(s) for s in stops if s in raw]
        expected = raw[: min(hits)] if hits else raw
        assert run(chunks, stops)[0] == expected, (raw, stops, chunks)
