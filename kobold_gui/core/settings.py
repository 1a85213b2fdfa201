"""The sampler table: every generation field the server reads, in one place.

One row per field drives the request body, validation, the settings panel and preset files, so
adding a sampler is one row. Defaults are KoboldAI Lite's (what users are used to); `None` means
"unset": the field is left out of the request and the server uses its own default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidSettings
from .escapes import unescape

Kind = Literal["int", "float", "bool", "str", "str_list", "int_list", "json"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    default: Any
    label: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    #: shown without digging in the settings panel
    common: bool = False
    #: group heading in the panel
    group: str = "Sampling"
    #: decimals / step hint for float spin boxes
    step: float = 0.01
    #: the first KoboldCpp version known to read the field (None: every version we support,
    #: i.e. 1.76 and older); an older server never gets it (see `for_server`)
    since: str | None = None
    #: a flag of /api/extra/version the server must also report (e.g. "guidance")
    needs_flag: str | None = None
    #: shown in the sampler panel (memory is the story's, edited in the Context panel)
    in_panel: bool = True


DEFAULT_SAMPLER_ORDER = [6, 0, 1, 3, 4, 2, 5]

#: what each id of `sampler_order` runs (KoboldCpp's numbering)
SAMPLER_NAMES: dict[int, str] = {
    0: "Top-k", 1: "Top-a", 2: "Top-p / Min-p", 3: "Tail-free", 4: "Typical",
    5: "Temperature", 6: "Repetition penalty",
}

# `since`: the version KoboldAI Lite v339 checks before it sends the field
# (`is_using_kcpp_with_*`: 1.37 min-p/mirostat/smoothing/bans/bias, 1.44 grammar, 1.49 trim_stop
# and bypass_eos, 1.70 DRY, 1.74 XTC, 1.90 guidance, 1.104 adaptive-P) or, where Lite checks
# nothing, the first release whose field list we checked (1.102: nsigma, smoothing_curve;
# koboldcpp-api.md §12). Never sending a field to a server older than that is the safe side.
GROUPS: tuple[str, ...] = (
    "Length", "Basic", "Sampler order", "Penalties", "Stopping", "Mirostat", "DynaTemp",
    "Smoothing", "Adaptive-P", "DRY", "XTC", "Guidance", "Grammar", "Banned tokens",
    "Logit bias", "Seed", "Context",
)

FIELDS: tuple[Field, ...] = (
    # --- Length -------------------------------------------------------------------------
    Field("max_length", "int", 200, "Max tokens", "How many tokens to generate at most.",
          1, 16384, common=True, group="Length", step=1),
    Field("max_context_length", "int", 4096, "Context size",
          "Tokens of prompt plus output the server may use; the prompt's start is cut to fit.",
          8, 999999, common=True, group="Length", step=1),
    # --- Basic --------------------------------------------------------------------------
    Field("temperature", "float", 0.7, "Temperature",
          "Randomness: lower is more focused, higher more varied; 0 picks the likeliest token.",
          0.0, 5.0, common=True, group="Basic"),
    Field("top_p", "float", 0.92, "Top-p",
          "Keep the smallest set of tokens whose probabilities add up to this (1 = off).",
          0.0, 1.0, common=True, group="Basic"),
    Field("top_k", "int", 100, "Top-k", "Keep only the K likeliest tokens (0 = off).",
          0, 300, common=True, group="Basic"),
    Field("min_p", "float", 0.0, "Min-p",
          "Drop tokens less likely than this fraction of the top token (0 = off).",
          0.0, 1.0, common=True, group="Basic", since="1.37"),
    Field("top_a", "float", 0.0, "Top-a", "Drop tokens below a threshold set by the top token "
          "squared (0 = off).", 0.0, 1.0, group="Basic"),
    Field("typical", "float", 1.0, "Typical", "Locally typical sampling (1 = off).", 0.0, 1.0,
          group="Basic"),
    Field("tfs", "float", 1.0, "Tail-free", "Tail-free sampling (1 = off).", 0.0, 1.0,
          group="Basic"),
    Field("nsigma", "float", 0.0, "Top-nσ",
          "Keep tokens within n standard deviations of the top logit (0 = off; about 1 is "
          "typical). Runs instead of the usual chain.", 0.0, 5.0, group="Basic", since="1.102"),
    # --- Sampler order ------------------------------------------------------------------
    Field("sampler_order", "int_list", list(DEFAULT_SAMPLER_ORDER), "Sampler order",
          "Order the samplers run in: 0 top-k, 1 top-a, 2 top-p/min-p, 3 tail-free, 4 typical, "
          "5 temperature, 6 repetition penalty. An omitted id disables that sampler.",
          group="Sampler order"),
    # --- Penalties ----------------------------------------------------------------------
    Field("rep_pen", "float", 1.07, "Repetition penalty",
          "Discourage repeating recent tokens (1 = off; the server treats values below 1 as 1).",
          1.0, 5.0, common=True, group="Penalties"),
    Field("rep_pen_range", "int", 360, "Penalty range",
          "How many recent tokens the repetition penalty looks at.",
          0, 999999, common=True, group="Penalties", step=1),
    Field("rep_pen_slope", "float", 0.7, "Penalty slope",
          "How the penalty fades over the range (values above 1 or at most 0 mean 1).",
          0.0, 20.0, group="Penalties"),
    Field("presence_penalty", "float", 0.0, "Presence penalty",
          "Penalise any token already present, once (0 = off).", -2.0, 2.0, group="Penalties",
          since="1.37"),
    # --- Stopping -----------------------------------------------------------------------
    Field("stop_sequence", "str_list", [], "Stop sequences",
          "Generation stops when any of these strings appears (\\n stands for a new line).",
          common=True, group="Stopping"),
    Field("trim_stop", "bool", True, "Trim stop sequence",
          "Remove the stop sequence from the output.", group="Stopping", since="1.49"),
    Field("ban_eos_token", "bool", False, "Ban end-of-sequence",
          "Never let the model end on its own; generate to the length or a stop sequence.",
          group="Stopping"),
    Field("bypass_eos", "bool", False, "Bypass end-of-sequence",
          "The model may sample end-of-sequence but it does not stop generation.",
          group="Stopping", since="1.49"),
    Field("render_special", "bool", False, "Render special tokens",
          "Show special tokens as text.", group="Stopping", since="1.37"),
    # --- Mirostat -----------------------------------------------------------------------
    Field("mirostat", "int", 0, "Mirostat mode", "0 off, 1 or 2 = Mirostat v1/v2 (replaces the "
          "sampler order).", 0, 2, group="Mirostat", since="1.37"),
    Field("mirostat_tau", "float", 5.0, "Mirostat tau", "Target surprise.", 0.0, 30.0,
          group="Mirostat", since="1.37"),
    Field("mirostat_eta", "float", 0.1, "Mirostat eta", "Learning rate.", 0.0, 10.0,
          group="Mirostat", since="1.37"),
    # --- DynaTemp -----------------------------------------------------------------------
    Field("dynatemp_range", "float", 0.0, "DynaTemp range",
          "Entropy-based temperature between temperature ± range (0 = off).", 0.0, 5.0,
          group="DynaTemp", since="1.37"),
    Field("dynatemp_exponent", "float", 1.0, "DynaTemp exponent", "Curve of DynaTemp.",
          0.0, 10.0, group="DynaTemp", since="1.37"),
    # --- Smoothing ----------------------------------------------------------------------
    Field("smoothing_factor", "float", 0.0, "Smoothing factor",
          "Quadratic smoothing of the logits (0 = off).", 0.0, 10.0, group="Smoothing",
          since="1.37"),
    Field("smoothing_curve", "float", 1.0, "Smoothing curve",
          "Shape of the quadratic smoothing (1 = plain quadratic).", 0.1, 5.0,
          group="Smoothing", since="1.102"),
    # --- Adaptive-P ---------------------------------------------------------------------
    Field("adaptive_target", "float", -1.0, "Adaptive-P target",
          "Probability the adaptive-P sampler steers towards (negative = off).", -1.0, 1.0,
          group="Adaptive-P", since="1.104"),
    Field("adaptive_decay", "float", 0.9, "Adaptive-P decay",
          "How quickly adaptive-P forgets earlier tokens.", 0.01, 0.99, group="Adaptive-P",
          since="1.104"),
    # --- DRY ----------------------------------------------------------------------------
    Field("dry_multiplier", "float", 0.0, "DRY multiplier",
          "Penalise repeating sequences (0 = off).", 0.0, 100.0, group="DRY", since="1.70"),
    Field("dry_base", "float", 1.75, "DRY base", "Growth of the DRY penalty.", 0.0, 8.0,
          group="DRY", since="1.70"),
    Field("dry_allowed_length", "int", 2, "DRY allowed length",
          "Repeats up to this many tokens are free.", 0, 100, group="DRY", since="1.70"),
    Field("dry_penalty_last_n", "int", 360, "DRY range",
          "How many recent tokens DRY looks at (0 = whole context).", 0, 999999, group="DRY",
          since="1.70", step=1),
    Field("dry_sequence_breakers", "str_list", ["\n", ":", '"', "*"], "DRY breakers",
          "Strings that interrupt a repeated sequence.", group="DRY", since="1.70"),
    # --- XTC ----------------------------------------------------------------------------
    Field("xtc_threshold", "float", 0.2, "XTC threshold",
          "Exclude top choices above this probability (above 0.5 = off).", 0.0, 1.0,
          group="XTC", since="1.74"),
    Field("xtc_probability", "float", 0.0, "XTC probability",
          "Chance that XTC applies at each token (0 = off).", 0.0, 1.0, group="XTC",
          since="1.74"),
    # --- Guidance -----------------------------------------------------------------------
    Field("guidance_scale", "float", 1.0, "Guidance scale",
          "Classifier-free guidance away from the negative prompt (1 = off; costs a second "
          "pass).", 0.0, 5.0, group="Guidance", since="1.90", needs_flag="guidance"),
    Field("negative_prompt", "str", None, "Negative prompt",
          "What guidance steers away from.", group="Guidance", since="1.90",
          needs_flag="guidance"),
    # --- Grammar ------------------------------------------------------------------------
    Field("grammar", "str", None, "Grammar (GBNF)",
          "Constrain output to a GBNF grammar with a `root` rule.", group="Grammar",
          since="1.44"),
    Field("grammar_retain_state", "bool", False, "Keep grammar state",
          "Carry the grammar's state over when the same grammar is sent again.",
          group="Grammar", since="1.44"),
    # --- Banned tokens ------------------------------------------------------------------
    Field("banned_tokens", "str_list", None, "Banned strings",
          "Words or phrases the model may not produce.", group="Banned tokens", since="1.37"),
    Field("custom_token_bans", "str", None, "Banned token ids",
          "Comma-separated token ids to ban.", group="Banned tokens"),
    # --- Logit bias ---------------------------------------------------------------------
    Field("logit_bias", "json", None, "Logit bias",
          'JSON object {"token id": bias}, bias between -100 and 100.', group="Logit bias",
          since="1.37"),
    # --- Seed ---------------------------------------------------------------------------
    Field("sampler_seed", "int", None, "Seed",
          "Fixed seed for reproducible output; empty or -1 = random.", -1, 999999,
          group="Seed"),
    # --- Context (the story's; edited in the Context panel) -----------------------------
    Field("memory", "str", None, "Memory",
          "Text always kept at the start of the context; the prompt is cut first.",
          group="Context", in_panel=False),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
COMMON: tuple[Field, ...] = tuple(f for f in FIELDS if f.common)


# ---------------------------------------------------------------------- what a server reads
def version_tuple(version: str) -> tuple[int, ...] | None:
    """`"1.108.1"` -> (1, 108, 1); leading digits only ("1.76.yr1-ROCm" -> (1, 76)); None if
    there is no number."""
    parts: list[int] = []
    for piece in version.strip().split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts) or None


@dataclass(frozen=True)
class ServerFeatures:
    """What the connected server is known to read: its name, version and feature flags (from
    /api/extra/version). `None` for the whole object means "not known" (no server yet)."""

    name: str
    version: str
    flags: frozenset[str] = frozenset()

    @classmethod
    def from_version_info(cls, info: Any) -> ServerFeatures:
        """From a `protocol.ServerVersion` (anything with name, version and raw)."""
        raw = getattr(info, "raw", None) or {}
        flags = frozenset(k for k, v in raw.items() if v is True)
        return cls(str(getattr(info, "name", "")), str(getattr(info, "version", "")), flags)

    def reads(self, f: Field) -> bool:
        return unavailable_reason(f, self) is None


def unavailable_reason(f: Field, server: ServerFeatures | None) -> str | None:
    """Why `server` would not read `f` ("needs KoboldCpp 1.70"), or None when it does or when
    no server is known (nothing is sent then anyway)."""
    if server is None or f.since is None:
        return None
    needs = f"needs KoboldCpp {f.since}"
    if server.name != "KoboldCpp":
        return needs
    have, want = version_tuple(server.version), version_tuple(f.since)
    if have is None or want is None or have < want:
        return f"{needs} (the server is {server.version or 'of an unknown version'})"
    if f.needs_flag and f.needs_flag not in server.flags:
        return f"needs a server started with {f.needs_flag} support"
    return None


def unavailable(server: ServerFeatures | None) -> dict[str, str]:
    """Every field `server` would not read, with the reason."""
    out = {}
    for f in FIELDS:
        why = unavailable_reason(f, server)
        if why:
            out[f.name] = why
    return out


def for_server(values: Mapping[str, Any], server: ServerFeatures | None) -> dict[str, Any]:
    """`values` with every field the server is too old for unset (None), so `build_body`
    leaves it out: a sampler is shown as unavailable, never sent silently."""
    skip = unavailable(server)
    return {k: (None if k in skip else v) for k, v in values.items()}


def defaults() -> dict[str, Any]:
    """A fresh copy of every field's default (lists copied so callers may mutate them)."""
    return {f.name: (list(f.default) if isinstance(f.default, list) else f.default)
            for f in FIELDS}


def _fmt(x: float) -> str:
    return f"{x:g}"


def _range_problem(f: Field, value: float) -> str | None:
    """Words for a value outside the field's bounds; a field may have only one bound."""
    low, high = f.minimum, f.maximum
    if (low is None or value >= low) and (high is None or value <= high):
        return None
    lo = "" if low is None else _fmt(low)
    hi = "" if high is None else _fmt(high)
    bounds = f"between {lo} and {hi}" if lo and hi else (
        f"at least {lo}" if lo else f"at most {hi}")
    return f"{f.label} must be {bounds} (got {_fmt(value)})"


def _check_one(f: Field, value: Any) -> tuple[Any, str | None]:
    """Return (normalised value, problem or None)."""
    if value is None:
        return None, None
    if f.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):
                try:
                    value = float(value.strip())
                except ValueError:
                    return value, f"{f.label} must be a number (got {value!r})"
            else:
                return value, f"{f.label} must be a number (got {value!r})"
        if not math.isfinite(value):
            return value, f"{f.label} must be a finite number"
        if f.kind == "int":
            if value != int(value):
                return value, f"{f.label} must be a whole number (got {_fmt(value)})"
            value = int(value)
        else:
            value = float(value)
        problem = _range_problem(f, value)
        return value, problem
    if f.kind == "bool":
        if not isinstance(value, bool):
            return value, f"{f.label} must be true or false (got {value!r})"
        return value, None
    if f.kind == "str":
        if not isinstance(value, str):
            return value, f"{f.label} must be text"
        return value, None
    if f.kind == "str_list":
        if isinstance(value, str):
            # A bare string would be read by the server as one stop per character.
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
            return value, f"{f.label} must be a list of strings"
        return [s for s in value if s != ""], None
    if f.kind == "int_list":
        if not isinstance(value, list | tuple) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in value
        ):
            return value, f"{f.label} must be a list of whole numbers"
        return list(value), None
    if f.kind == "json":
        if not isinstance(value, dict):
            return value, f"{f.label} must be a JSON object"
        return value, None
    raise AssertionError(f.kind)


def _cross_checks(v: Mapping[str, Any]) -> list[str]:
    problems = []
    order = v.get("sampler_order")
    if isinstance(order, list) and (
        not 1 <= len(order) <= 7 or len(set(order)) != len(order)
        or any(i not in range(7) for i in order)
    ):
        problems.append("Sampler order must list distinct ids from 0 to 6 (1 to 7 of them)")
    ml, ctx = v.get("max_length"), v.get("max_context_length")
    if isinstance(ml, int) and isinstance(ctx, int) and ml >= ctx:
        problems.append(f"Max tokens ({ml}) must be smaller than the context size ({ctx})")
    stops = v.get("stop_sequence")
    if isinstance(stops, list) and len(stops) > 32:
        problems.append("At most 32 stop sequences are used by the server")
    bias = v.get("logit_bias")
    if isinstance(bias, dict):
        for k, b in bias.items():
            try:
                ok = int(k) >= 0 and isinstance(b, int | float) and -100 <= b <= 100
            except (TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(f"Logit bias entry {k!r}: {b!r} must map a token id to -100..100")
                break
    return problems


def validate(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise every known field; raise InvalidSettings listing every problem.

    Unknown names are an error too: a typo must not be silently ignored.
    """
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name, value in values.items():
        f = BY_NAME.get(name)
        if f is None:
            problems.append(f"Unknown setting {name!r}")
            continue
        norm, problem = _check_one(f, value)
        if problem:
            problems.append(problem)
        out[name] = norm
    if not problems:
        problems = _cross_checks(out)
    if problems:
        raise InvalidSettings(problems)
    return out


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse `FIELD=VALUE` as typed on a command line, using the field's kind."""
    if "=" not in text:
        raise InvalidSettings([f"Expected FIELD=VALUE, got {text!r}"])
    name, raw = text.split("=", 1)
    name = name.strip()
    f = BY_NAME.get(name)
    if f is None:
        known = ", ".join(sorted(BY_NAME))
        raise InvalidSettings([f"Unknown setting {name!r} (known: {known})"])
    raw_s = raw.strip()
    try:
        if f.kind == "bool":
            lowered = raw_s.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError
            return name, lowered in ("true", "1", "yes", "on")
        if f.kind == "int":
            return name, int(raw_s)
        if f.kind == "float":
            return name, float(raw_s)
        if f.kind == "str":
            return name, raw
        if f.kind == "str_list":
            import json

            if raw_s.startswith("["):
                return name, json.loads(raw_s)
            return name, [unescape(raw)]
        if f.kind == "int_list":
            return name, [int(p) for p in raw_s.strip("[]").split(",") if p.strip()]
        if f.kind == "json":
            import json

            return name, json.loads(raw_s)
    except ValueError:
        raise InvalidSettings([f"{f.label}: cannot read {raw_s!r} as {f.kind}"]) from None
    raise AssertionError(f.kind)


def build_body(prompt: str, values: Mapping[str, Any], genkey: str,
               server: ServerFeatures | None = None) -> dict[str, Any]:
    """The JSON body for generate/stream: validated, integers as ints, unset fields left out,
    and (given the server) no field the server is too old to read."""
    clean = validate(values)
    if server is not None:
        clean = for_server(clean, server)
    body: dict[str, Any] = {"prompt": prompt}
    for name, value in clean.items():
        if value is None:
            continue
        if name == "sampler_seed" and value <= 0:
            continue
        body[name] = value
    body["genkey"] = genkey
    return body
