"""``python -m services.motifmatch``: run MotifMatchService until SIGTERM/SIGINT.

Settings come from the environment (:mod:`services.common.config`, service
"motifmatch": port 50053, metrics 9103 by default); the store is
``open_store(MOTIFLENS_STORE)``. Exit status 2 on a bad setting.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence

from motiflens.errors import MotiflensError
from services.common.budget import ComputeSlots
from services.common.config import ConfigError, Settings
from services.common.metrics import ServiceMetrics
from services.common.server import serve
from services.common.store import open_store
from services.motifmatch.servicer import SERVICE_NAME, MotifMatchServicer, add_to_server


def main(argv: Sequence[str] | None = None) -> int:
    """Build settings, store and servicer, then serve; returns the exit status."""
    if argv:
        sys.stderr.write("usage: python -m services.motifmatch (configured by MOTIFLENS_* variables)\n")
        return 2
    try:
        settings = Settings.from_env("motifmatch")
        store = open_store(settings.store_url)
    except (ConfigError, MotiflensError) as error:
        sys.stderr.write(f"motifmatch: configuration error: {error}\n")
        return 2
    # MatchFilters imports TensorFlow; keep its C++ start-up chatter out of the JSON log.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    metrics = ServiceMetrics()
    servicer = MotifMatchServicer(store, metrics=metrics, compute=ComputeSlots(settings.max_compute))
    threading.Thread(target=servicer.warm_up, name="warm-up", daemon=True).start()
    serve(settings, lambda server: add_to_server(servicer, server), SERVICE_NAME, store, metrics=metrics)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
