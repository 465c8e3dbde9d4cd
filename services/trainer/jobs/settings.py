"""Settings of the job manager: :class:`JobSettings`, read from the environment.

The ``MOTIFLENS_TRAINER_*`` and ``MOTIFLENS_STORE_RETRY_SECONDS`` variables, their
defaults and ranges live here and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.common.config import parse_int_setting
from services.trainer import worker

#: Environment variables of :class:`JobSettings` and their defaults.
CONCURRENCY_ENV = "MOTIFLENS_TRAINER_CONCURRENCY"
QUEUE_ENV = "MOTIFLENS_TRAINER_QUEUE"
STORE_RETRY_ENV = "MOTIFLENS_STORE_RETRY_SECONDS"
MAX_RESUMES_ENV = "MOTIFLENS_TRAINER_MAX_RESUMES"
DEFAULT_CONCURRENCY = 1
DEFAULT_QUEUE_LIMIT = 16
DEFAULT_STORE_RETRY_SECONDS = int(worker.DEFAULT_STORE_RETRY_SECONDS)
DEFAULT_MAX_RESUMES = 3


@dataclass(frozen=True)
class JobSettings:
    """Settings of the job manager.

    Attributes
    ----------
    concurrency : int
        Worker processes, i.e. jobs trained at once (``MOTIFLENS_TRAINER_CONCURRENCY``,
        default 1, 1-64).
    queue_limit : int
        Most jobs pending or running in this manager (``MOTIFLENS_TRAINER_QUEUE``,
        default 16, 1-10000); ``Train`` beyond it is RESOURCE_EXHAUSTED.
    heartbeat_seconds : float
        Interval of the manager's heartbeat record (default 5); a manager silent for
        three intervals counts as gone.
    orphan_sweep_seconds : float
        Interval of the check for jobs of gone managers (default 60; also at start).
    poll_seconds : float
        How often open WatchJob streams re-read the store when no notification arrives
        (default 0.3; one read per watched job, however many streams watch it).
    store_retry_seconds : float
        How long a worker's store calls retry through an outage before the worker gives
        up and the job is re-queued (``MOTIFLENS_STORE_RETRY_SECONDS``, default 120, 0-3600).
    max_resumes : int
        How often one job may be re-queued after an interruption before it is FAILED
        (``MOTIFLENS_TRAINER_MAX_RESUMES``, default 3, 0-100).
    """

    concurrency: int = DEFAULT_CONCURRENCY
    queue_limit: int = DEFAULT_QUEUE_LIMIT
    heartbeat_seconds: float = 5.0
    orphan_sweep_seconds: float = 60.0
    poll_seconds: float = 0.3
    store_retry_seconds: float = float(DEFAULT_STORE_RETRY_SECONDS)
    max_resumes: int = DEFAULT_MAX_RESUMES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JobSettings:
        """Read the settings from ``MOTIFLENS_TRAINER_*`` and ``MOTIFLENS_STORE_RETRY_SECONDS``.

        Raises
        ------
        ValueError
            A value that is not an integer in range (the message names the variable).
        """
        env = os.environ if environ is None else environ
        return cls(
            concurrency=_env_int(env, CONCURRENCY_ENV, DEFAULT_CONCURRENCY, 1, 64),
            queue_limit=_env_int(env, QUEUE_ENV, DEFAULT_QUEUE_LIMIT, 1, 10000),
            store_retry_seconds=float(_env_int(env, STORE_RETRY_ENV, DEFAULT_STORE_RETRY_SECONDS, 0, 3600)),
            max_resumes=_env_int(env, MAX_RESUMES_ENV, DEFAULT_MAX_RESUMES, 0, 100),
        )


def _env_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return parse_int_setting((env.get(name) or "").strip() or None, name, default, low, high)
