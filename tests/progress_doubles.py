"""Test doubles of the progress-bar tests (test_progress_choice.py, test_progress_bars.py)."""

from __future__ import annotations

import io

from tqdm.std import tqdm as std_tqdm


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Recording(std_tqdm):
    """A real tqdm bar, writing to its own buffer (``text``), that remembers its updates,
    postfixes and whether it was closed."""

    def __init__(self, *args, **options):
        self.steps: list[float] = []
        self.postfixes: list[str] = []
        self.closed = False
        self.text = io.StringIO()
        super().__init__(*args, file=self.text, **options)

    def update(self, n=1):
        self.steps.append(n)
        return super().update(n)

    def set_postfix_str(self, s="", refresh=True):
        self.postfixes.append(s)
        return super().set_postfix_str(s, refresh=refresh)

    def close(self):
        self.closed = True
        return super().close()
