"""``python -m services.trainer``: run the TrainerService until SIGTERM/SIGINT.

Settings come from the environment: the shared ones of
:class:`services.common.config.Settings` (``MOTIFLENS_TRAINER_PORT``, ``MOTIFLENS_STORE``,
...) and the job manager's :class:`services.common.config.JobSettings`
(``MOTIFLENS_TRAINER_CONCURRENCY``, default 1 worker process;
``MOTIFLENS_TRAINER_QUEUE``, default 16 pending or running jobs;
``MOTIFLENS_TRAINER_MAX_RESUMES``, default 3; ``MOTIFLENS_STORE_RETRY_SECONDS``, default
120) and the sweeps'
:class:`services.common.config.SweepSettings` (``MOTIFLENS_SWEEP_EXECUTOR`` local or
kubernetes, ``MOTIFLENS_SWEEP_IMAGE``, ...). Exit status 2 on a bad setting.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.common.app import run
from services.trainer.app import build


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the trainer until a signal; returns the exit status (2 on a bad setting)."""
    return run("trainer", build, argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
