"""Reading a generation request body the way KoboldCpp 1.76 does, type quirks included.

1.76 copies values into fixed C types without conversion, so a wrong JSON type is not a 4xx:
the sync endpoint answers ``200 null`` and the stream hangs after its headers
(:class:`BadTypeError`). A body that is valid JSON but not an object, or a non-numeric
``rep_pen``, makes the server drop the connection without any reply (:class:`DropConnection`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .instruct import replace_placeholders
from .textgen import normalize_stop_sequence

#: Fields the server stores in C ints: must be JSON integers (40.0 and true fail).
INT_FIELDS = (
    "max_length",
    "max_context_length",
    "top_k",
    "rep_pen_range",
    "mirostat",
    "dry_allowed_length",
    "dry_penalty_last_n",
)
#: Fields stored in C floats: ints are fine, strings and null are not.
FLOAT_FIELDS = (
    "temperature",
    "top_p",
    "top_a",
    "min_p",
    "typical",
    "tfs",
    "rep_pen_slope",
    "presence_penalty",
    "mirostat_tau",
    "mirostat_eta",
    "dynatemp_range",
    "dynatemp_exponent",
    "smoothing_factor",
    "dry_multiplier",
    "dry_base",
    "xtc_threshold",
    "xtc_probability",
)
#: Folded with max() in Python before the C copy: a non-number raises outside the handler.
REP_PEN_FIELDS = ("rep_pen", "repeat_penalty", "repetition_penalty")
STRING_FIELDS = ("prompt", "memory", "genkey")


class BadTypeError(Exception):
    """A field has the wrong JSON type: sync -> 200 ``null``, stream -> silent hang."""


class DropConnection(Exception):  # noqa: N818 - it is an action, not an error report
    """The real server raises outside its handler: the socket is closed without a reply."""


@dataclass
class GenParams:
    """The parts of a request the emulator acts on (the rest is accepted and ignored)."""

    prompt: str = ""
    memory: str = ""
    genkey: str = ""
    max_length: int = 180
    requested_max_length: int = 180
    max_context_length: int = 4096
    stop_sequence: list[str] = field(default_factory=list)
    trim_stop: bool = False
    ban_eos: bool = False
    sampler_seed: int = -1
    #: the request's prompt, memory and stops as received (before a 1.88+ server filled in
    #: its instruct placeholders)
    received_prompt: str = ""
    received_memory: str = ""
    received_stop_sequence: list[str] = field(default_factory=list)

    @property
    def context(self) -> str:
        """What the model continues: memory in front of the prompt."""
        return self.memory + self.prompt


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float)


def cap_max_length(max_length: int, max_context_length: int) -> int:
    """1.76 cap: ``max_context_length - min(max_context_length - 4, 16)``."""
    cap = max_context_length - min(max_context_length - 4, 16)
    return min(max_length, cap)


def parse_gen_params(body: object, server_context: int, default_max_length: int,
                     adapter: dict[str, str] | None = None) -> GenParams:
    """Validate a decoded JSON body and derive the effective generation parameters.

    `adapter` (a 1.88+ server): its tags replace the instruct placeholders in prompt, memory
    and stop sequences, unless the body says ``replace_instruct_placeholders: false``."""
    if not isinstance(body, dict):
        raise DropConnection("body is not a JSON object")
    for name in REP_PEN_FIELDS:
        if name in body and not _is_number(body[name]):
            raise DropConnection(f"{name} is not a number")
    for name in STRING_FIELDS:
        if name in body and not isinstance(body[name], str):
            raise BadTypeError(f"{name} must be a string")
    for name in INT_FIELDS:
        if name in body and not _is_int(body[name]):
            raise BadTypeError(f"{name} must be an integer")
    for name in FLOAT_FIELDS:
        if name in body and not _is_number(body[name]):
            raise BadTypeError(f"{name} must be a number")
    seed = body.get("sampler_seed", -1)
    try:
        seed = int(seed)
    except (TypeError, ValueError) as exc:
        raise BadTypeError("sampler_seed must be numeric") from exc
    try:
        stops = normalize_stop_sequence(body.get("stop_sequence", []))
    except TypeError as exc:
        raise BadTypeError(str(exc)) from exc

    max_context_length = min(body.get("max_context_length", server_context), server_context)
    requested = body.get("max_length", default_max_length)
    if "ban_eos_token" in body:
        ban_eos = bool(body["ban_eos_token"])
    else:
        ban_eos = bool(body.get("use_default_badwordsids", False))
    prompt, memory = body.get("prompt", ""), body.get("memory", "")
    received = (prompt, memory, list(stops))
    if adapter is not None and body.get("replace_instruct_placeholders", True):
        prompt = replace_placeholders(prompt, adapter)
        memory = replace_placeholders(memory, adapter)
        stops = [s for s in (replace_placeholders(s, adapter) for s in stops) if s]
    return GenParams(
        prompt=prompt,
        memory=memory,
        genkey=body.get("genkey", ""),
        max_length=cap_max_length(requested, max_context_length),
        requested_max_length=requested,
        max_context_length=max_context_length,
        stop_sequence=stops,
        trim_stop=bool(body.get("trim_stop", False)),
        ban_eos=ban_eos,
        sampler_seed=seed,
        received_prompt=received[0],
        received_memory=received[1],
        received_stop_sequence=received[2],
    )
