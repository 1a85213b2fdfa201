"""KoboldCpp-compatible HTTP server with fault injection (tests, benchmarks, ``--demo``).

Standard library only (no Qt): ``http.server`` like the real koboldcpp.py 1.76, whose wire
behaviour it reproduces byte for byte where clients can tell the difference.
"""

from .config import EmulatorConfig, Faults
from .engine import GenerationRecord
from .server import Emulator

__all__ = ["Emulator", "EmulatorConfig", "Faults", "GenerationRecord"]
