"""Sampler presets: Lite's built-in ones, the user's own, and imports of Lite / SillyTavern files.

A preset is a name and some sampler values in our field names (`core.settings`). Applying one
sets exactly the fields it holds and leaves the others as they are, as Lite does: a preset
about temperature and top-p says nothing about the stop sequences or the context size.

Built-ins come from Lite v339's own table (package data `lite-presets.json`), with Lite's key
names mapped to ours. User presets live in one JSON file in the data directory, written
atomically; a file that cannot be read is moved aside, never overwritten in place. Imports
map the keys of a Lite preset / Lite settings (a story's `savedsettings`) or a SillyTavern
Text Completion or KoboldAI preset, keep each value that passes the sampler table's checks
and say which were left out and why.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from . import settings as table
from .errors import InvalidSettings
from .storage import atomic_write, data_dir

log = logging.getLogger(__name__)

FILE_NAME = "sampler-presets.json"
FILE_VERSION = 1
#: the preset a fresh install starts from (Lite's default)
DEFAULT_PRESET = "[Default]"


@dataclass(frozen=True)
class Preset:
    name: str
    values: dict[str, Any]
    description: str = ""
    builtin: bool = False

    def differs_from(self, current: Mapping[str, Any]) -> list[str]:
        """The preset's fields whose value in `current` is not the preset's."""
        return [k for k, v in self.values.items() if not _same(current.get(k), v)]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


class PresetError(Exception):
    """A preset file or name that cannot be used; the message says why in words."""


# ---------------------------------------------------------------------- key mapping
#: Lite's names (its presets and its `localsettings` / a story's `savedsettings`) -> ours
LITE_KEYS: dict[str, str] = {
    "temp": "temperature", "temperature": "temperature",
    "typical": "typical", "typ_s": "typical",
    "tfs": "tfs", "tfs_s": "tfs",
    "miro_type": "mirostat", "miro_tau": "mirostat_tau", "miro_eta": "mirostat_eta",
    "adaptivep_target": "adaptive_target", "adaptivep_decay": "adaptive_decay",
}
#: SillyTavern's names (Text Completion presets, and its KoboldAI presets) -> ours
ST_KEYS: dict[str, str] = {
    "temp": "temperature", "temperature": "temperature",
    "typical_p": "typical", "typical": "typical",
    "presence_pen": "presence_penalty",
    "mirostat_mode": "mirostat",
    "grammar_string": "grammar",
}
#: the same name in every file and here
SHARED_KEYS = frozenset({
    "top_k", "top_p", "min_p", "top_a", "rep_pen", "rep_pen_range", "rep_pen_slope",
    "presence_penalty", "sampler_order", "sampler_seed", "smoothing_factor", "smoothing_curve",
    "nsigma", "dynatemp_range", "dynatemp_exponent", "dry_multiplier", "dry_base",
    "dry_allowed_length", "dry_penalty_last_n", "dry_sequence_breakers", "xtc_threshold",
    "xtc_probability", "mirostat", "mirostat_tau", "mirostat_eta", "grammar", "ban_eos_token",
    "max_length", "max_context_length", "guidance_scale", "negative_prompt",
})


def _number(value: Any) -> Any:
    """Lite writes values edited in its dialogs as strings ("0.7"): read them as numbers."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    return value


def _fit(name: str, value: Any) -> Any:
    """A value in the shape our field has (ints for int fields, a list of breakers, ...)."""
    f = table.BY_NAME[name]
    if f.kind in ("int", "float"):
        value = _number(value)
        if f.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
    if f.kind == "str_list" and isinstance(value, str):
        # SillyTavern keeps DRY breakers as a JSON string.
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            value = parsed
    if f.kind == "str" and value == "" and f.default is None:
        value = None
    if name == "sampler_seed" and isinstance(value, int) and value < 0:
        value = None  # -1: random, which is what unset means
    return value


def _checked(mapped: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Keep each value the sampler table accepts; the others are named in `skipped`."""
    kept: dict[str, Any] = {}
    skipped: list[str] = []
    for name, value in mapped.items():
        try:
            kept.update(table.validate({name: value}))
        except InvalidSettings as err:
            skipped.append("; ".join(err.problems))
    return kept, skipped


# ---------------------------------------------------------------------- built-ins
@cache
def _lite_data() -> dict[str, Any]:
    text = resources.files("kobold_gui.data").joinpath("lite-presets.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def from_lite_preset(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The values of one Lite preset object, in our names (unknown keys are not samplers)."""
    mapped = {}
    for key, value in entry.items():
        name = LITE_KEYS.get(key, key if key in SHARED_KEYS else None)
        if name is not None and name in table.BY_NAME:
            mapped[name] = _fit(name, value)
    return mapped


@cache
def builtin_presets() -> tuple[Preset, ...]:
    """Lite v339's 15 sampler presets, in Lite's order."""
    out = []
    for entry in _lite_data()["sampler_presets"]:
        values, skipped = _checked(from_lite_preset(entry))
        if skipped:  # the package data is ours: a problem here is a bug, say it loudly
            raise AssertionError(f"built-in preset {entry['preset']!r}: {skipped}")
        out.append(Preset(str(entry["preset"]), values, str(entry.get("description", "")),
                          builtin=True))
    return tuple(out)


# ---------------------------------------------------------------------- imports
@dataclass(frozen=True)
class Imported:
    """What an import found: a suggested name, the values kept, what was left out and why."""

    name: str
    values: dict[str, Any]
    skipped: list[str] = field(default_factory=list)
    source: str = ""


def _st_values(data: Mapping[str, Any]) -> dict[str, Any]:
    mapped: dict[str, Any] = {}
    for key, value in data.items():
        name = ST_KEYS.get(key, key if key in SHARED_KEYS else None)
        if name is not None:
            mapped[name] = _fit(name, value)
    # SillyTavern's dynamic temperature is a min..max span; KoboldCpp's is temperature ± range
    # (what SillyTavern itself sends to KoboldCpp).
    if "dynatemp" in data:
        low, high = _number(data.get("min_temp")), _number(data.get("max_temp"))
        if data.get("dynatemp") is True and isinstance(low, int | float) \
                and isinstance(high, int | float):
            mapped["temperature"] = (low + high) / 2
            mapped["dynatemp_range"] = abs(high - low) / 2
        else:
            mapped["dynatemp_range"] = 0.0
    bans = data.get("banned_tokens")
    if isinstance(bans, str):
        # One entry per line; "quoted" entries are strings, bare numbers are token ids.
        strings, ids = [], []
        for line in bans.splitlines():
            line = line.strip()
            if len(line) >= 2 and line[0] == line[-1] == '"':
                strings.append(line[1:-1])
            elif line.isdigit():
                ids.append(line)
            elif line:
                strings.append(line)
        mapped["banned_tokens"] = strings or None
        if ids:
            mapped["custom_token_bans"] = ",".join(ids)
    bias = data.get("logit_bias")
    if isinstance(bias, list):
        mapped.pop("logit_bias", None)  # SillyTavern's is by text; it needs the model's tokens
    return mapped


def _kind(data: Mapping[str, Any]) -> str:
    """Which program wrote this object: "lite_story", "lite_settings", "lite_preset",
    "sillytavern" or "" (none we know)."""
    if isinstance(data.get("savedsettings"), Mapping):
        return "lite_story"
    if "preset" in data and ("temp" in data or "rep_pen" in data):
        return "lite_preset"
    if "typ_s" in data or "miro_type" in data or "tfs_s" in data:
        return "lite_settings"
    st_marks = ("typical_p", "mirostat_mode", "sampler_priority", "samplers", "grammar_string",
                "presence_pen", "dynatemp", "min_temp", "temperature_last")
    if any(k in data for k in st_marks) or ("temp" in data and "rep_pen" in data):
        return "sillytavern"
    return ""


def parse_preset(data: Any, suggested_name: str = "Imported") -> Imported:
    """Read a Lite or SillyTavern preset / settings object into our values."""
    if not isinstance(data, Mapping):
        raise PresetError("This file is not a preset: it holds no JSON object of settings")
    kind = _kind(data)
    if kind == "lite_story":
        inner = data["savedsettings"]
        mapped = from_lite_preset(inner)
        source = "KoboldAI Lite story settings"
    elif kind in ("lite_preset", "lite_settings"):
        mapped = from_lite_preset(data)
        source = "KoboldAI Lite preset" if kind == "lite_preset" else "KoboldAI Lite settings"
        if kind == "lite_preset" and isinstance(data.get("preset"), str) and data["preset"]:
            suggested_name = data["preset"].strip() or suggested_name
    elif kind == "sillytavern":
        mapped = _st_values(data)
        source = "SillyTavern preset"
    else:
        raise PresetError("This file is not a KoboldAI Lite or SillyTavern sampler preset "
                          "(none of their setting names are in it)")
    values, skipped = _checked(mapped)
    if not values:
        raise PresetError("This file has no sampler value that can be used"
                          + (f": {'; '.join(skipped)}" if skipped else ""))
    return Imported(suggested_name, values, skipped, source)


def import_file(path: Path | str) -> Imported:
    """Read a preset file; PresetError says in words what is wrong with a bad one."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise PresetError(f"Cannot read {path.name}: {err.strerror or err}") from None
    if len(raw) > 8 * 1024 * 1024:
        raise PresetError(f"{path.name} is too large to be a preset")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise PresetError(f"{path.name} is not a text file") from None
    except json.JSONDecodeError as err:
        raise PresetError(f"{path.name} is not valid JSON (line {err.lineno}, column "
                          f"{err.colno}: {err.msg})") from None
    if isinstance(data, list) and data and all(isinstance(d, Mapping) for d in data):
        data = data[0]  # Lite keeps its custom presets as a list; take the first
    return parse_preset(data, path.stem)


# ---------------------------------------------------------------------- the user's presets
def presets_path() -> Path:
    return data_dir() / FILE_NAME


class PresetStore:
    """The user's presets and the name of the preset last chosen, in one JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or presets_path()
        self.user: list[Preset] = []
        #: name of the last preset chosen (None: none yet)
        self.selected: str | None = None
        self._load()

    # reading
    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as err:
            log.warning("presets: cannot read %s: %s", self.path, err)
            return
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("presets", []), list):
                raise ValueError("not a presets file")
        except (ValueError, UnicodeDecodeError) as err:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.warning("presets: %s is unreadable (%s); moved aside to %s", self.path, err,
                        aside.name)
            with contextlib.suppress(OSError):
                self.path.replace(aside)
            return
        for entry in data.get("presets", []):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                    or not isinstance(entry.get("values"), dict):
                log.warning("presets: an entry without a name or values was skipped")
                continue
            values, skipped = _checked({k: v for k, v in entry["values"].items()
                                        if k in table.BY_NAME})
            for why in skipped:
                log.warning("presets: %r: %s (value dropped)", entry["name"], why)
            self.user.append(Preset(entry["name"], values, str(entry.get("description", ""))))
        selected = data.get("selected")
        self.selected = selected if isinstance(selected, str) else None

    def _save(self) -> None:
        data = {
            "file_version": FILE_VERSION,
            "selected": self.selected,
            "presets": [{"name": p.name, "description": p.description, "values": p.values}
                        for p in self.user],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, (json.dumps(data, indent=1, ensure_ascii=False) + "\n")
                     .encode("utf-8"))

    # queries
    def all(self) -> list[Preset]:
        return [*builtin_presets(), *self.user]

    def find(self, name: str) -> Preset | None:
        return next((p for p in self.all() if p.name == name), None)

    def _user_index(self, name: str) -> int:
        for i, p in enumerate(self.user):
            if p.name == name:
                return i
        if any(p.name == name for p in builtin_presets()):
            raise PresetError(f"{name!r} is built in: it cannot be changed, save a copy instead")
        raise PresetError(f"There is no preset called {name!r}")

    def _check_name(self, name: str, replacing: str | None = None) -> str:
        name = name.strip()
        if not name:
            raise PresetError("A preset needs a name")
        if len(name) > 120:
            raise PresetError("That name is too long (120 characters at most)")
        if any(p.name == name for p in builtin_presets()):
            raise PresetError(f"{name!r} is the name of a built-in preset; choose another")
        if replacing is not None and name != replacing and any(p.name == name for p in self.user):
            raise PresetError(f"There is already a preset called {name!r}")
        return name

    # changes (each written at once)
    def save(self, name: str, values: Mapping[str, Any], description: str = "") -> Preset:
        """Save `values` (only sampler fields, never memory) under `name`; an existing user
        preset of that name is replaced."""
        name = self._check_name(name)
        kept, skipped = _checked({k: v for k, v in values.items()
                                  if k in table.BY_NAME and table.BY_NAME[k].in_panel})
        if skipped:
            raise PresetError("Not saved: " + "; ".join(skipped))
        preset = Preset(name, kept, description)
        self.user = [p for p in self.user if p.name != name] + [preset]
        self.selected = name
        self._save()
        return preset

    def rename(self, old: str, new: str) -> Preset:
        i = self._user_index(old)
        new = self._check_name(new, replacing=old)
        p = self.user[i]
        self.user[i] = Preset(new, p.values, p.description)
        if self.selected == old:
            self.selected = new
        self._save()
        return self.user[i]

    def delete(self, name: str) -> None:
        i = self._user_index(name)
        del self.user[i]
        if self.selected == name:
            self.selected = None
        self._save()

    def select(self, name: str | None) -> None:
        """Remember the preset last chosen (shown again at the next start)."""
        if name != self.selected:
            self.selected = name
            self._save()


def unique_name(name: str, taken: Iterable[str]) -> str:
    """`name`, or `name (2)`, `name (3)`… if it is taken."""
    taken = set(taken)
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"

