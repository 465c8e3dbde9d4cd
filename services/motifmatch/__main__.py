"""``python -m services.motifmatch``: run MotifMatchService until SIGTERM/SIGINT.

Settings come from the environment (:mod:`services.common.config`, service
"motifmatch": port 50053, metrics 9103 by default); the store is
``open_store(MOTIFLENS_STORE)``. Exit status 2 on a bad setting.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.common.app import run
from services.motifmatch.app import build


def main(argv: Sequence[str] | None = None) -> int:
    """Serve motifmatch until a signal; returns the exit status (2 on a bad setting)."""
    return run("motifmatch", build, argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
