"""``python -m services.trainer``: run the TrainerService until SIGTERM/SIGINT.

Settings come from the environment: the shared ones of
:class:`services.common.config.Settings` (``MOTIFLENS_TRAINER_PORT``, ``MOTIFLENS_STORE``,
...) and the job manager's :class:`services.trainer.jobs.JobSettings`
(``MOTIFLENS_TRAINER_CONCURRENCY``, default 1 worker process;
``MOTIFLENS_TRAINER_QUEUE``, default 16 pending or running jobs;
``MOTIFLENS_TRAINER_MAX_RESUMES``, default 3; ``MOTIFLENS_STORE_RETRY_SECONDS``, default
120) and the sweeps'
:class:`services.trainer.sweeps.SweepSettings` (``MOTIFLENS_SWEEP_EXECUTOR`` local or
kubernetes, ``MOTIFLENS_SWEEP_IMAGE``, ...).
"""

from __future__ import annotations

from services.common.budget import MemoryBudget
from services.common.config import Settings
from services.common.metrics import ServiceMetrics
from services.common.server import configure_logging, serve
from services.common.store import open_store
from services.trainer.datasets import remove_stale_uploads
from services.trainer.jobs import JobManager, JobSettings
from services.trainer.servicer import SERVICE_NAME, TrainerServicer
from services.trainer.sweeps import SweepManager, SweepSettings


def main() -> None:
    """Build settings, store, job manager and servicer; serve; close the manager on the way out."""
    settings = Settings.from_env("trainer")
    job_settings = JobSettings.from_env()
    sweep_settings = SweepSettings.from_env()
    configure_logging(settings.log_level)
    store = open_store(settings.store_url)
    metrics = ServiceMetrics()
    jobs = JobManager(settings.store_url, job_settings, store=store, metrics=metrics)
    remove_stale_uploads()  # folders of an earlier trainer killed mid-import
    servicer = TrainerServicer(
        store, jobs, SweepManager(jobs, sweep_settings), budget=MemoryBudget(settings.memory_budget_bytes)
    )
    try:
        serve(settings, servicer.register, SERVICE_NAME, store, metrics=metrics)
    finally:
        jobs.close()


if __name__ == "__main__":
    main()
