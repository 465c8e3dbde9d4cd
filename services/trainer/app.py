"""Wiring of the trainer server: TrainerService over a job manager and a sweep manager."""

from __future__ import annotations

from services.common.app import App
from services.common.budget import MemoryBudget
from services.common.config import (
    DiscoveryLimits,
    JobSettings,
    ModelFileSettings,
    Settings,
    SweepSettings,
    max_upload_bytes_from_env,
)
from services.common.datasets import remove_stale_uploads
from services.common.metrics import ServiceMetrics
from services.common.store import ArtifactStore
from services.trainer.jobs import JobManager
from services.trainer.servicer import SERVICE_NAME, TrainerServicer
from services.trainer.sweeps import SweepManager


def build(settings: Settings, store: ArtifactStore, metrics: ServiceMetrics) -> App:
    """The trainer :class:`~services.common.app.App`; its ``close`` stops the job manager.

    Raises
    ------
    ConfigError
        A job or sweep setting is malformed (read before anything starts).
    """
    job_settings = JobSettings.from_env()
    sweep_settings = SweepSettings.from_env()
    max_upload_bytes = max_upload_bytes_from_env()
    model_files = ModelFileSettings.from_env()
    jobs = JobManager(settings.store_url, job_settings, store=store, metrics=metrics)
    remove_stale_uploads()  # folders of an earlier trainer killed mid-import
    servicer = TrainerServicer(
        store,
        jobs,
        SweepManager(jobs, sweep_settings),
        budget=MemoryBudget(settings.memory_budget_bytes),
        max_upload_bytes=max_upload_bytes,
        model_files=model_files,
        discovery_limits=DiscoveryLimits.from_env(),
    )
    return App(servicer.register, (SERVICE_NAME,), (servicer,), close=jobs.close)
