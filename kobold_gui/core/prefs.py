"""The app's own settings file: what the window looked like and where it was connected.

One JSON file in the platform's config directory, written atomically (the previous version kept
as `settings.json~`). Reading never fails: a corrupt file, or one from a newer version of the
app, is moved aside (`settings.json.corrupt-…` / `settings.json.newer-…`) and the defaults are
used, with a warning in the log. Each value is checked on its own, so one bad entry costs that
entry, not the rest; sampler values that are unknown or out of range are dropped, never sent.

Never in here: the server password (that goes to the keyring, core/secrets.py) and memory
(part of the story, not of the app).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidSettings, InvalidURL
from .prefs_file import (  # noqa: F401 (part of this module's interface)
    FILE_NAME,
    FORMAT,
    THEMES,
    VERSION,
    is_base64,
    prefs_path,
    read_window_look,
)

log = logging.getLogger(__name__)

MAX_RECENT = 10
FONT_KINDS = ("serif", "mono")
#: the story's font size, points (View > Bigger / Smaller Text)
FONT_SIZES = (7.0, 40.0)
DEFAULT_FONT_SIZE = 12.5
#: sampler fields that belong to the story, not to the app
NOT_APP_SETTINGS = frozenset({"memory"})


@dataclass
class Prefs:
    #: the last server the window was pointed at (None: the built-in default)
    url: str | None = None
    #: servers connected to before, newest first, at most MAX_RECENT
    recent_urls: list[str] = field(default_factory=list)
    #: the addresses whose password this app put in the system keyring (addresses only, never
    #: a password): the keyring is loaded (~2 MB, 25–45 ms) only for these. None: a file from
    #: before this list, so any address may have one (ui/app_settings.py then builds it)
    keyring_urls: list[str] | None = field(default_factory=list)
    #: sampler values by field name (checked: see `clean_samplers`)
    samplers: dict[str, Any] = field(default_factory=dict)
    #: QMainWindow.saveGeometry / saveState, base64
    geometry: str | None = None
    window_state: str | None = None
    splitter_sizes: list[int] = field(default_factory=list)
    font_kind: str = "serif"
    #: a font family the user picked (None: the kind's own)
    font_family: str | None = None
    font_size: float = DEFAULT_FONT_SIZE
    theme: str = "system"

    def remember_url(self, url: str) -> None:
        """Put `url` first in the recent servers (once), dropping the oldest past the limit."""
        self.recent_urls = [url, *[u for u in self.recent_urls if u != url]][:MAX_RECENT]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "server": {"url": self.url, "recent": list(self.recent_urls),
                       **({} if self.keyring_urls is None
                          else {"keyring": list(self.keyring_urls)})},
            "samplers": clean_samplers(self.samplers, warn=False),
            "window": {
                "geometry": self.geometry,
                "state": self.window_state,
                "splitter": list(self.splitter_sizes),
                "font_kind": self.font_kind,
                "font_family": self.font_family,
                "font_size": self.font_size,
                "theme": self.theme,
            },
        }


class _Unreadable(Exception):
    """The file as a whole cannot be used (why, in words)."""

    def __init__(self, why: str, kind: str = "corrupt") -> None:
        super().__init__(why)
        self.kind = kind


# ------------------------------------------------------------------------------ checking values
def _url(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        log.warning("settings: %s is not text; ignored", what)
        return None
    try:
        from .serverinfo import normalize_url

        return normalize_url(value)
    except InvalidURL as err:
        log.warning("settings: %s ignored: %s", what, err.message)
        return None


def clean_samplers(values: Mapping[str, Any], *, warn: bool = True) -> dict[str, Any]:
    """The sampler values that may be shown and sent: known fields, each valid, and valid
    together with the rest (e.g. max tokens below the context size). Memory is left out."""
    from . import settings as sampler_table

    kept: dict[str, Any] = {}
    base = sampler_table.defaults()
    for name, value in values.items():
        if name in NOT_APP_SETTINGS:
            continue
        if name not in sampler_table.BY_NAME:
            if warn:
                log.warning("settings: unknown sampler %r dropped", name)
            continue
        try:
            checked = sampler_table.validate({**base, **kept, name: value})
        except InvalidSettings as err:
            if warn:
                log.warning("settings: sampler %r dropped: %s", name, err.message)
            continue
        kept[name] = checked[name]
    return kept


def _b64(value: Any, what: str) -> str | None:
    if value is None or is_base64(value):
        return value
    log.warning("settings: %s is not base64; ignored", what)
    return None


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if isinstance(value, Mapping):
        return value
    log.warning("settings: %r is not an object; ignored", name)
    return {}


def from_json(data: Any) -> Prefs:
    """Prefs from a parsed file; raises _Unreadable when it is not ours or is newer."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _Unreadable("not a kobold_gui settings file")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Unreadable(f"unknown version {version!r}")
    if version > VERSION:
        raise _Unreadable(f"written by a newer kobold_gui (version {version})", kind="newer")
    prefs = Prefs()
    server = _section(data, "server")
    prefs.url = _url(server.get("url"), "the server address")
    recent = server.get("recent", [])
    if isinstance(recent, list):
        for item in recent:
            url = _url(item, "a recent server")
            if url is not None and url not in prefs.recent_urls:
                prefs.recent_urls.append(url)
        prefs.recent_urls = prefs.recent_urls[:MAX_RECENT]
    else:
        log.warning("settings: the recent servers are not a list; ignored")
    kept = server.get("keyring")
    if kept is None:
        prefs.keyring_urls = None  # written before the list existed: unknown
    elif isinstance(kept, list):
        prefs.keyring_urls = [url for url in (_url(item, "a keyring address") for item in kept)
                              if url is not None]
    else:
        log.warning("settings: the keyring addresses are not a list; the keyring is asked")
        prefs.keyring_urls = None
    samplers = data.get("samplers", {})
    if isinstance(samplers, Mapping):
        prefs.samplers = clean_samplers(samplers)
    else:
        log.warning("settings: the sampler values are not an object; ignored")
    window = _section(data, "window")
    prefs.geometry = _b64(window.get("geometry"), "the window geometry")
    prefs.window_state = _b64(window.get("state"), "the window state")
    sizes = window.get("splitter", [])
    if (isinstance(sizes, list) and all(isinstance(s, int) and not isinstance(s, bool)
                                        and 0 <= s <= 100_000 for s in sizes)):
        prefs.splitter_sizes = list(sizes)
    else:
        log.warning("settings: the splitter sizes are not a list of sizes; ignored")
    kind = window.get("font_kind", "serif")
    if kind in FONT_KINDS:
        prefs.font_kind = kind
    else:
        log.warning("settings: unknown font kind %r; serif used", kind)
    family = window.get("font_family")
    if family is None or (isinstance(family, str) and 0 < len(family) <= 200
                          and family.isprintable()):
        prefs.font_family = family
    else:
        log.warning("settings: the font family is not a name; the default font is used")
    size = window.get("font_size", DEFAULT_FONT_SIZE)
    if (isinstance(size, int | float) and not isinstance(size, bool)
            and FONT_SIZES[0] <= size <= FONT_SIZES[1]):
        prefs.font_size = float(size)
    else:
        log.warning("settings: font size %r is not between %g and %g; %g used", size,
                    *FONT_SIZES, DEFAULT_FONT_SIZE)
    theme = window.get("theme", "system")
    if theme in THEMES:
        prefs.theme = theme
    else:
        log.warning("settings: unknown theme %r; the system's is followed", theme)
    return prefs


# ------------------------------------------------------------------------------ the file
def _read(path: Path) -> Prefs:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _Unreadable(f"cannot be read ({exc.strerror or exc})", kind="unreadable") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Unreadable(f"is not valid JSON ({exc})") from None
    return from_json(data)


def aside_path(path: Path, kind: str) -> Path:
    """A free name beside `path` for a file we could not use."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.{kind}-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{kind}-{stamp}-{n}")
    return candidate


def _set_aside(path: Path, kind: str) -> Path | None:
    target = aside_path(path, kind)
    try:
        path.rename(target)
    except OSError as exc:
        log.warning("settings: could not move %s aside (%s)", path, exc.strerror or exc)
        return None
    return target


def load_prefs(path: Path | None = None) -> Prefs:
    """The saved settings, or the defaults; never raises."""
    path = prefs_path() if path is None else path
    if not path.exists():
        return Prefs()
    try:
        return _read(path)
    except _Unreadable as problem:
        if problem.kind == "unreadable":
            log.warning("settings: %s %s; the defaults are used", path, problem)
            return Prefs()
        aside = _set_aside(path, problem.kind)
        kept = f"; it was kept as {aside}" if aside else ""
        log.warning("settings: %s %s%s; the defaults are used", path, problem, kept)
        return Prefs()


def save_prefs(prefs: Prefs, path: Path | None = None) -> bool:
    """Write the settings; False (and a log warning) when the folder cannot be written."""
    path = prefs_path() if path is None else path
    from .storage import atomic_write

    data = json.dumps(prefs.to_json(), ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
    except OSError as exc:
        log.warning("settings: could not be saved to %s (%s)", path, exc.strerror or exc)
        return False
    return True
