"""argparse for all three commands: a usage mistake is one line on stderr and exit 2.

The stock parser prints the whole usage block before the error; on a narrow terminal the one
line that says what is wrong scrolls by among eight lines of options.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

USAGE_EXIT = 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_EXIT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
