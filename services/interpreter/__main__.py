"""``python -m services.interpreter``: run InterpreterService and TF Serving's PredictionService.

Settings come from the environment (:mod:`services.common.config`, service
"interpreter": port 50052, metrics 9102 by default, ``MOTIFLENS_INTERPRETER_CACHE``
models kept loaded, default 4); the store is ``open_store(MOTIFLENS_STORE)``. Exit
status 2 on a bad setting.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.common.app import run
from services.interpreter.app import build


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the interpreter until a signal; returns the exit status (2 on a bad setting)."""
    return run("interpreter", build, argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
