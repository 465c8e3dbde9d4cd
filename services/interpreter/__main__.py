"""``python -m services.interpreter``: run InterpreterService and TF Serving's PredictionService.

Settings come from the environment (:mod:`services.common.config`, service
"interpreter": port 50052, metrics 9102 by default) plus
``MOTIFLENS_INTERPRETER_CACHE`` (models kept loaded, default 4); the store is
``open_store(MOTIFLENS_STORE)``. Exit status 2 on a bad setting.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from motiflens.errors import MotiflensError
from services.common.budget import MemoryBudget
from services.common.config import ConfigError, Settings
from services.common.metrics import ServiceMetrics
from services.common.server import serve
from services.common.store import open_store
from services.interpreter.app import SERVICE_NAMES, build_register


def main(argv: Sequence[str] | None = None) -> int:
    """Build settings, store, model cache and servicers, then serve; returns the exit status."""
    if argv:
        sys.stderr.write("usage: python -m services.interpreter (configured by MOTIFLENS_* variables)\n")
        return 2
    try:
        settings = Settings.from_env("interpreter")
        store = open_store(settings.store_url)
        capacity = int(os.environ.get("MOTIFLENS_INTERPRETER_CACHE", "4"))
        if capacity < 1:
            raise ConfigError(f"MOTIFLENS_INTERPRETER_CACHE: expected an integer >= 1, got {capacity}")
    except ValueError as error:
        sys.stderr.write(f"interpreter: configuration error: {error}\n")
        return 2
    except (ConfigError, MotiflensError) as error:
        sys.stderr.write(f"interpreter: configuration error: {error}\n")
        return 2
    metrics = ServiceMetrics()
    serve(
        settings,
        build_register(
            store, metrics, cache_capacity=capacity, budget=MemoryBudget(settings.memory_budget_bytes)
        ),
        SERVICE_NAMES,
        store,
        metrics=metrics,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
