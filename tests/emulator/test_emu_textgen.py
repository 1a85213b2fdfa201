"""The deterministic text model, stop-sequence helpers and the ground-truth API."""

from __future__ import annotations

import pytest
from emu_wire import post

from kobold_gui.emulator import Emulator, EmulatorConfig
from kobold_gui.emulator.textgen import (
    VOCABULARY,
    TextModel,
    chunk_may_start_stop,
    normalize_stop_sequence,
    tokenize,
    trim_at_stop,
)


def test_same_seed_same_tokens_other_seed_other_tokens():
    a = Emulator(EmulatorConfig(seed=7)).expected_tokens("Once upon a time", 50)
    b = Emulator(EmulatorConfig(seed=7)).expected_tokens("Once upon a time", 50)
    c = Emulator(EmulatorConfig(seed=8)).expected_tokens("Once upon a time", 50)
    d = Emulator(EmulatorConfig(seed=7)).expected_tokens("Once upon a time.", 50)
    assert a == b and len(a) == 50
    assert a != c and a != d


def test_continuation_of_a_prompt_that_ends_with_generated_text():
    emu = Emulator(EmulatorConfig(seed=3))
    tokens = emu.expected_tokens("Story:", 40)
    for k in (1, 7, 25):
        cont = emu.expected_tokens("Story:" + "".join(tokens[:k]), 40 - k)
        assert cont == tokens[k:]
    # memory + prompt is one context
    assert emu.expected_tokens("y:", 10, memory="Stor") == emu.expected_tokens("Story:", 10)


def test_vocabulary_covers_the_encoding_cases():
    vocab = {t for t, _ in VOCABULARY}
    for needed in (" São", " über", " café", "“", "”", "世界", "こんにちは", " 🙂", "π", "\n", ","):
        assert needed in vocab
    assert any(t.startswith(" ") and t[1:].isalpha() and t.isascii() for t in vocab)
    text = Emulator(EmulatorConfig(seed=1)).expected_text("mix", 2000)
    assert any(ord(c) > 0xFFFF for c in text) and "\n" in text and "," in text


def test_eos_is_deterministic():
    model = TextModel(seed=5, eos_chance=0.05)
    runs = [model.generate(f"p{i}", 200) for i in range(20)]
    assert runs == [model.generate(f"p{i}", 200) for i in range(20)]
    assert any(reason == 1 for _, reason in runs)
    assert all(len(toks) == 200 for toks, reason in runs if reason == 0)
    banned = [model.generate(f"p{i}", 200, ban_eos=True) for i in range(20)]
    assert all(reason == 0 and len(t) == 200 for t, reason in banned)
    # ban_eos only removes EOS; the tokens before it are the same
    for (toks, _), (btoks, _) in zip(runs, banned, strict=True):
        assert btoks[: len(toks)] == toks


def test_stop_sequence_stops_after_the_completing_token():
    model = TextModel(seed=1)
    tokens, _ = model.generate("s", 100)
    text = "".join(tokens)
    stop = tokens[10].strip() or tokens[11].strip()
    stopped, reason = model.generate("s", 100, [stop])
    assert reason == 2
    stopped_text = "".join(stopped)
    assert stop in stopped_text and stop not in stopped_text[: -len(stopped[-1]) or None]
    assert text.startswith(stopped_text)


def test_normalize_stop_sequence():
    assert normalize_stop_sequence("ab") == ["a", "b"]
    assert normalize_stop_sequence(None) == []
    assert normalize_stop_sequence(["x", None, "", "y"]) == ["x", "y"]
    assert len(normalize_stop_sequence([str(i) for i in range(40)])) == 32
    with pytest.raises(TypeError):
        normalize_stop_sequence(5)
    with pytest.raises(TypeError):
        normalize_stop_sequence(["a", 1])


def test_trim_at_first_occurrence_of_any_stop():
    assert trim_at_stop("hello User: x\nBot:", ["\nBot:", "User:"]) == "hello "
    assert trim_at_stop("nothing here", ["User:"]) == "nothing here"


def test_hold_back_predicate_of_1_76():
    stops = ["\nYou:"]
    assert chunk_may_start_stop("You", stops)
    assert chunk_may_start_stop(":", stops)
    assert not chunk_may_start_stop("\n", stops)  # whitespace-only chunks are never held
    assert not chunk_may_start_stop(" there", stops)
    assert chunk_may_start_stop(" said You: hi", ["You:"])


def test_tokenizer_is_stable_and_adds_bos():
    assert tokenize("hello world") == tokenize("hello world")
    assert tokenize("hello world")[0] == 1 and tokenize("hello world", False)[0] != 1
    assert tokenize("") == [1] and tokenize("", add_bos=False) == []


def test_expected_helpers_match_the_server(emu):
    r = post(emu.port, "/api/v1/generate",
             {"prompt": "Check", "memory": "Mem. ", "max_length": 25, "genkey": "M"})
    assert r.json()["results"][0]["text"] == emu.expected_text("Check", 25, memory="Mem. ")
    rec = emu.generation("M")
    assert rec.tokens == emu.expected_tokens("Check", 25, memory="Mem. ")
    assert rec.memory == "Mem. " and rec.prompt == "Check" and rec.max_length == 25
    assert emu.expected_finish_reason("Check", 25) == "length"


@pytest.mark.parametrize("seed", range(8))
def test_tokenizer_reads_generated_text_back_as_its_tokens(seed):
    from kobold_gui.emulator.textgen import pieces

    tokens, _ = TextModel(seed).generate(f"Once upon a time {seed}", 600)
    assert list(pieces("".join(tokens))) == tokens


def test_tokencount_counts_what_was_generated(emu):
    text = emu.expected_text("count me", 77)
    body = post(emu.port, "/api/extra/tokencount", {"prompt": text, "special": False}).json()
    assert body["value"] == 77
