"""Newer servers (1.88+): feature flags, instruct placeholders filled in, a thinking model."""

from __future__ import annotations

from emu_wire import get, post

from kobold_gui.emulator.instruct import DEMO_THOUGHTS


def test_version_flags_follow_the_server_version(start_emulator) -> None:
    old = get(start_emulator().port, "/api/extra/version").json()
    new = get(start_emulator(version="1.100").port, "/api/extra/version").json()
    assert old["version"] == "1.76" and "jinja" not in old
    assert new["version"] == "1.100" and new["jinja"] is False and new["admin"] == 0


def test_placeholders_filled_only_by_a_new_server(start_emulator) -> None:
    body = {"prompt": "{{[INPUT]}}Hi{{[INPUT_END]}}{{[OUTPUT]}}", "max_length": 4,
            "memory": "{{[SYSTEM]}}Sys{{[SYSTEM_END]}}", "stop_sequence": ["{{[INPUT]}}"]}
    old = start_emulator()
    post(old.port, "/api/v1/generate", body)
    assert old.last_generation.prompt == body["prompt"]  # 1.76: just text
    new = start_emulator(version="1.100", adapter={"user_start": "<u>", "user_end": "</u>",
                                                   "assistant_start": "<a>",
                                                   "system_start": "<s>", "system_end": "</s>"})
    post(new.port, "/api/v1/generate", body)
    rec = new.last_generation
    assert (rec.prompt, rec.memory, rec.stop_sequence) == ("<u>Hi</u><a>", "<s>Sys</s>", ["<u>"])
    assert rec.received_prompt == body["prompt"] and rec.received_memory == body["memory"]
    post(new.port, "/api/v1/generate", {**body, "replace_instruct_placeholders": False})
    assert new.last_generation.prompt == body["prompt"]


def test_a_thinking_model_opens_fresh_replies_with_thoughts(start_emulator) -> None:
    emu = start_emulator(reply_prefix=DEMO_THOUGHTS)
    reply = post(emu.port, "/api/v1/generate",
                 {"prompt": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                  "max_length": 60}).json()
    text = reply["results"][0]["text"]
    assert text.startswith(DEMO_THOUGHTS) and len(text) > len(DEMO_THOUGHTS)
    assert text == emu.expected_text(
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", 60)
    plain = post(emu.port, "/api/v1/generate", {"prompt": "Once upon", "max_length": 5}).json()
    assert "<think>" not in plain["results"][0]["text"]  # continuing text: no thoughts
