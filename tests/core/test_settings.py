"""The sampler table drives the request body: types, ranges and omissions the server cares about."""

import json

import pytest

from kobold_gui.core import settings as S
from kobold_gui.core.errors import InvalidSettings


def test_every_field_the_server_reads_is_in_the_table():
    expected = {
        "max_length", "max_context_length", "temperature", "top_k", "top_a", "top_p", "min_p",
        "typical", "tfs", "rep_pen", "rep_pen_range", "rep_pen_slope", "presence_penalty",
        "sampler_order", "sampler_seed", "mirostat", "mirostat_tau", "mirostat_eta",
        "dynatemp_range", "dynatemp_exponent", "smoothing_factor", "dry_multiplier", "dry_base",
        "dry_allowed_length", "dry_penalty_last_n", "dry_sequence_breakers", "xtc_threshold",
        "xtc_probability", "stop_sequence", "trim_stop", "ban_eos_token", "bypass_eos",
        "render_special", "grammar", "grammar_retain_state", "logit_bias", "custom_token_bans",
        "banned_tokens", "memory",
    }
    assert expected <= set(S.BY_NAME)
    for f in S.FIELDS:
        assert f.label and f.help, f.name


def test_common_fields_are_marked_common():
    common = {f.name for f in S.COMMON}
    assert {"max_length", "max_context_length", "temperature", "top_p", "top_k", "min_p",
            "rep_pen", "rep_pen_range", "stop_sequence"} <= common


def test_body_sends_integers_as_json_integers_and_omits_unset_fields():
    values = S.defaults()
    values["max_length"] = 40.0  # e.g. from a float spin box
    values["top_k"] = 50.0
    body = S.build_body("Hi", values, "KEY")
    text = json.dumps(body)
    assert '"max_length": 40,' in text and '"top_k": 50,' in text
    assert isinstance(body["max_length"], int)
    assert "null" not in text
    assert "grammar" not in body and "memory" not in body and "sampler_seed" not in body
    assert body["genkey"] == "KEY" and body["prompt"] == "Hi"


def test_stop_sequence_is_always_a_list():
    values = S.defaults()
    values["stop_sequence"] = "\nUser:"
    body = S.build_body("", values, "k")
    assert body["stop_sequence"] == ["\nUser:"]


def test_out_of_range_and_wrong_types_give_clear_messages():
    values = S.defaults()
    values.update(temperature=7, top_k=2.5, trim_stop="false", max_length=0)
    with pytest.raises(InvalidSettings) as info:
        S.validate(values)
    problems = " | ".join(info.value.problems)
    assert "Temperature must be between 0 and 5 (got 7)" in problems
    assert "Top-k must be a whole number (got 2.5)" in problems
    assert "true or false" in problems
    assert "Max tokens must be between 1" in problems


def test_cross_field_rules():
    values = S.defaults()
    values.update(max_length=4096, max_context_length=4096)
    with pytest.raises(InvalidSettings, match="smaller than the context size"):
        S.validate(values)
    values = S.defaults()
    values["sampler_order"] = [6, 6, 1]
    with pytest.raises(InvalidSettings, match="Sampler order"):
        S.validate(values)


def test_unknown_setting_is_an_error_not_ignored():
    with pytest.raises(InvalidSettings, match="Unknown setting 'temprature'"):
        S.validate({"temprature": 0.5})


def test_parse_assignment_uses_field_kinds():
    assert S.parse_assignment("temperature=0.5") == ("temperature", 0.5)
    assert S.parse_assignment("top_k=40") == ("top_k", 40)
    assert S.parse_assignment("trim_stop=no") == ("trim_stop", False)
    assert S.parse_assignment("stop_sequence=\\nUser:") == ("stop_sequence", ["\nUser:"])
    assert S.parse_assignment('stop_sequence=["a","b"]') == ("stop_sequence", ["a", "b"])
    assert S.parse_assignment("sampler_order=6,0,1") == ("sampler_order", [6, 0, 1])
    with pytest.raises(InvalidSettings, match="cannot read"):
        S.parse_assignment("top_k=many")
    with pytest.raises(InvalidSettings, match="Unknown setting"):
        S.parse_assignment("nope=1")


@pytest.mark.parametrize("assignment, expected", [
    ("stop_sequence=世界", ["世界"]),
    ("stop_sequence=\\nUser:", ["\nUser:"]),
    ("stop_sequence=Ä\\tb\\\\c\\\"d", ['Ä\tb\\c"d']),
    ("stop_sequence=\\u00e9t\\u00E9", ["été"]),
    ("stop_sequence=emoji 🦎 \\x41 \\q", ["emoji 🦎 \\x41 \\q"]),  # unknown escapes as typed
    ("stop_sequence=\\u12", ["\\u12"]),
    ("dry_sequence_breakers=ß\\r\\n", ["ß\r\n"]),
])
def test_set_keeps_non_ascii_and_reads_only_the_documented_escapes(assignment, expected):
    name, value = S.parse_assignment(assignment)
    assert S.validate({name: value})[name] == expected


def test_escape_round_trips_through_the_one_unescape_rule():
    from kobold_gui.core.escapes import escape, unescape

    for text in ["世界", "a\\nb", "\n\t\r\\", 'say "hi"', "🦎\\u0041"]:
        assert unescape(escape(text)) == text


def test_range_message_with_a_single_bound_does_not_crash():
    only_min = S.Field("x", "int", 1, "Only min", "h", minimum=1)
    only_max = S.Field("y", "float", 1.0, "Only max", "h", maximum=2.5)
    assert S._check_one(only_min, 0)[1] == "Only min must be at least 1 (got 0)"
    assert S._check_one(only_max, 3)[1] == "Only max must be at most 2.5 (got 3)"
    assert S._check_one(only_min, 5) == (5, None)
