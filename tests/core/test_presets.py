"""Presets: Lite's built-ins exactly, the user's own across restarts, Lite / SillyTavern imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kobold_gui.core import presets as P
from kobold_gui.core import settings
from kobold_gui.core.settings import ServerFeatures

LITE = json.loads((Path(P.__file__).parent.parent / "data" / "lite-presets.json")
                  .read_text("utf-8"))

# SillyTavern's "Universal-Creative" Text Completion preset (default/content/presets/textgen),
# abridged to the keys that matter here plus a few it has that we do not read.
ST_TEXTGEN = {
    "temp": 1.5, "temperature_last": False, "top_p": 1, "top_k": 0, "top_a": 0, "tfs": 1,
    "epsilon_cutoff": 0, "typical_p": 1, "min_p": 0.1, "rep_pen": 1, "rep_pen_range": 0,
    "rep_pen_slope": 1, "presence_pen": 0, "dynatemp": False, "min_temp": 0, "max_temp": 2,
    "dynatemp_exponent": 1, "smoothing_factor": 0, "smoothing_curve": 1,
    "dry_allowed_length": 2, "dry_multiplier": 0, "dry_base": 1.75,
    "dry_sequence_breakers": "[\"\\n\", \":\", \"\\\"\", \"*\"]", "dry_penalty_last_n": 0,
    "ban_eos_token": False, "mirostat_mode": 0, "mirostat_tau": 5, "mirostat_eta": 0.1,
    "guidance_scale": 1, "negative_prompt": "", "grammar_string": "", "banned_tokens": "",
    "sampler_priority": ["repetition_penalty", "temperature"],
    "sampler_order": [5, 6, 0, 1, 2, 3, 4], "logit_bias": [], "xtc_threshold": 0.1,
    "xtc_probability": 0, "nsigma": 0,
}
# SillyTavern's KoboldAI preset "RecoveredRuins" (default/content/presets/kobold), verbatim.
ST_KOBOLD = {
    "temp": 1, "rep_pen": 1.1, "rep_pen_range": 600, "top_p": 0.95, "top_a": 0, "top_k": 0,
    "typical": 1, "tfs": 1, "rep_pen_slope": 0, "sampler_order": [6, 0, 1, 2, 3, 4, 5],
    "mirostat": 0, "mirostat_tau": 5, "mirostat_eta": 0.1, "grammar": "",
}


def test_all_fifteen_lite_presets_in_lites_order_with_their_values() -> None:
    built = P.builtin_presets()
    assert [p.name for p in built] == [e["preset"] for e in LITE["sampler_presets"]]
    assert len(built) == 15
    for preset, entry in zip(built, LITE["sampler_presets"], strict=True):
        assert preset.values["temperature"] == entry["temp"]
        for key in ("top_k", "top_p", "min_p", "rep_pen", "rep_pen_range", "rep_pen_slope",
                    "nsigma", "smoothing_factor", "dynatemp_range", "sampler_order"):
            assert preset.values[key] == entry[key], (preset.name, key)
        assert "memory" not in preset.values and "max_length" not in preset.values
        assert settings.validate({**settings.defaults(), **preset.values})


def test_imported_sillytavern_textgen_preset_maps_names_and_drops_what_it_cannot_use(
        tmp_path: Path) -> None:
    path = tmp_path / "Universal-Creative.json"
    path.write_text(json.dumps(ST_TEXTGEN), "utf-8")
    got = P.import_file(path)
    assert got.name == "Universal-Creative" and got.source == "SillyTavern preset"
    v = got.values
    assert v["temperature"] == 1.5 and v["min_p"] == 0.1 and v["top_k"] == 0
    assert v["typical"] == 1 and v["presence_penalty"] == 0 and v["mirostat"] == 0
    assert v["dry_sequence_breakers"] == ["\n", ":", '"', "*"]  # JSON string -> list
    assert v["sampler_order"] == [5, 6, 0, 1, 2, 3, 4]
    assert v["dynatemp_range"] == 0.0
    assert v["grammar"] is None and v["negative_prompt"] is None  # "" = unset
    assert "logit_bias" not in v and "epsilon_cutoff" not in v
    assert settings.validate({**settings.defaults(), **v})


def test_sillytavern_dynamic_temperature_becomes_koboldcpps_centre_and_range() -> None:
    got = P.parse_preset({**ST_TEXTGEN, "dynatemp": True, "min_temp": 0.5, "max_temp": 1.5})
    assert got.values["temperature"] == 1.0 and got.values["dynatemp_range"] == 0.5


def test_sillytavern_kobold_preset_and_banned_strings() -> None:
    got = P.parse_preset({**ST_KOBOLD, "banned_tokens": '"Elara"\n12345\nshivers'})
    assert got.values["rep_pen_range"] == 600 and got.values["rep_pen_slope"] == 0
    assert got.values["banned_tokens"] == ["Elara", "shivers"]
    assert got.values["custom_token_bans"] == "12345"


def test_lite_story_settings_import_reads_lites_own_names_and_strings() -> None:
    story = {"prompt": "", "savedsettings": {
        "temperature": "0.9", "typ_s": 0.8, "tfs_s": 0.95, "miro_type": 2, "miro_tau": 4,
        "miro_eta": 0.2, "rep_pen": 1.1, "top_k": "40", "sampler_seed": -1,
        "adaptivep_target": 0.5, "adaptivep_decay": 0.8, "opmode": 4, "chatname": "You"}}
    got = P.parse_preset(story, "story")
    assert got.source == "KoboldAI Lite story settings"
    assert got.values == {"temperature": 0.9, "typical": 0.8, "tfs": 0.95, "mirostat": 2,
                          "mirostat_tau": 4.0, "mirostat_eta": 0.2, "rep_pen": 1.1,
                          "top_k": 40, "sampler_seed": None, "adaptive_target": 0.5,
                          "adaptive_decay": 0.8}


def test_out_of_range_values_are_left_out_with_the_reason() -> None:
    got = P.parse_preset({**ST_KOBOLD, "temp": 9, "top_k": 1.5})
    assert "temperature" not in got.values and "top_k" not in got.values
    assert any("Temperature must be between 0 and 5" in s for s in got.skipped)
    assert got.values["top_p"] == 0.95


@pytest.mark.parametrize("content, words", [
    (b"{not json", "not valid JSON (line 1"),
    (b"\xff\xfe\x00garbage", "not a text file"),
    (b"[1, 2, 3]", "not a preset"),
    (b'{"name": "x", "colour": "blue"}', "not a KoboldAI Lite or SillyTavern sampler preset"),
    (b'{"temp": "hot", "rep_pen": "high"}', "no sampler value that can be used"),
])
def test_bad_files_get_a_clear_error(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(P.PresetError, match=None) as info:
        P.import_file(path)
    assert words in str(info.value)


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(P.PresetError, match="Cannot read gone.json"):
        P.import_file(tmp_path / "gone.json")


def test_user_presets_save_rename_delete_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    store = P.PresetStore(path)
    store.save("Mine", {"temperature": 1.2, "top_k": 20, "memory": "never in a preset"})
    store.save("Other", {"temperature": 0.4})
    again = P.PresetStore(path)
    assert [p.name for p in again.user] == ["Mine", "Other"]
    assert again.find("Mine").values == {"temperature": 1.2, "top_k": 20}  # type: ignore[union-attr]
    assert again.selected == "Other"
    again.rename("Mine", "Renamed")
    again.delete("Other")
    third = P.PresetStore(path)
    assert [p.name for p in third.user] == ["Renamed"]
    assert third.selected is None
    assert third.find("Renamed").values["top_k"] == 20  # type: ignore[union-attr]
    assert len(third.all()) == 16


def test_user_presets_refuse_bad_names_and_builtins(tmp_path: Path) -> None:
    store = P.PresetStore(tmp_path / "p.json")
    store.save("A", {"temperature": 1.0})
    store.save("B", {"temperature": 1.0})
    with pytest.raises(P.PresetError, match="built-in"):
        store.save("Simple Logical", {"temperature": 1.0})
    with pytest.raises(P.PresetError, match="cannot be changed"):
        store.delete("Simple Logical")
    with pytest.raises(P.PresetError, match="already a preset called 'B'"):
        store.rename("A", "B")
    with pytest.raises(P.PresetError, match="needs a name"):
        store.save("  ", {"temperature": 1.0})
    with pytest.raises(P.PresetError, match="Not saved: Temperature"):
        store.save("C", {"temperature": 50})
    assert [p.name for p in P.PresetStore(tmp_path / "p.json").user] == ["A", "B"]


def test_unreadable_presets_file_is_moved_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{broken", "utf-8")
    store = P.PresetStore(path)
    assert store.user == []
    aside = list(tmp_path.glob("p.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text("utf-8") == "{broken"
    store.save("New", {"temperature": 1.0})
    assert P.PresetStore(path).find("New") is not None


def test_differs_from_names_the_changed_fields() -> None:
    preset = P.builtin_presets()[1]
    current = {**settings.defaults(), **preset.values}
    assert preset.differs_from(current) == []
    current["top_k"] = 99
    assert preset.differs_from(current) == ["top_k"]


# ---------------------------------------------------------------------- server versions
def test_version_numbers_compare_as_numbers() -> None:
    assert settings.version_tuple("1.76") == (1, 76)
    assert settings.version_tuple("1.108.1") == (1, 108, 1)
    assert settings.version_tuple("1.76.yr1-ROCm") == (1, 76)
    assert settings.version_tuple("") is None
    assert settings.version_tuple("1.100") > settings.version_tuple("1.76")  # type: ignore[operator]


def test_fields_a_server_is_too_old_for_are_named_and_left_out() -> None:
    old = ServerFeatures("KoboldCpp", "1.76")
    new = ServerFeatures("KoboldCpp", "1.110", frozenset({"guidance"}))
    gone = settings.unavailable(old)
    assert {"nsigma", "smoothing_curve", "adaptive_target", "adaptive_decay",
            "guidance_scale", "negative_prompt"} == set(gone)
    assert gone["nsigma"].startswith("needs KoboldCpp 1.102")
    assert settings.unavailable(new) == {}
    assert "guidance_scale" in settings.unavailable(ServerFeatures("KoboldCpp", "1.110"))
    values = {**settings.defaults(), "nsigma": 1.0}
    body_old = settings.build_body("x", values, "KCPP1", old)
    body_new = settings.build_body("x", values, "KCPP1", new)
    assert "nsigma" not in body_old and "smoothing_curve" not in body_old
    assert body_new["nsigma"] == 1.0 and body_new["adaptive_target"] == -1.0
    assert body_old["dry_multiplier"] == 0.0 and body_old["xtc_probability"] == 0.0


def test_every_newer_field_names_its_version() -> None:
    for f in settings.FIELDS:
        if f.since is not None:
            assert settings.version_tuple(f.since), f.name
            assert f.group in settings.GROUPS
    older = ServerFeatures("KoboldCpp", "1.69")
    assert "dry_multiplier" in settings.unavailable(older)
    assert "temperature" not in settings.unavailable(ServerFeatures("KoboldAI", ""))
    assert "min_p" in settings.unavailable(ServerFeatures("KoboldAI", ""))
