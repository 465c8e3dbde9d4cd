"""The motiflens client SDK: :class:`Client` for the three services and :class:`Job` for training jobs.

::

    from motiflens_client import Client, DatasetSplit

    with Client("127.0.0.1:50051") as client:          # or Client.local() to start a stack
        data = client.create_task(1, num_sequences=3000, seed=0)
        job = client.train(data.dataset_id, architecture="cnn_local", activation="exponential")
        info = job.wait(progress=True)                  # raises JobFailed if it fails
        filters = client.filters(info.model_id, DatasetSplit(data.dataset_id))
        match = client.match_filters(filters, ground_truth="task1")  # Task 1's planted TFs
        X_attr = client.attribute(info.model_id, ["ACGT" * 50], method="saliency")  # (1, 200, 4)

Behaviour of every call:

- a deadline of ``timeout`` seconds (the client's, or the call's own ``timeout``
  argument where it has one), covering the retries;
- UNAVAILABLE is retried up to ``retries`` times with exponential backoff (0.2 s,
  0.4 s, 0.8 s, ...), as long as the deadline allows; every other code raises at once.
  Watching a job (``Job.events``, ``Job.wait``) is patient: UNAVAILABLE (a restart, a
  store outage) and RESOURCE_EXHAUSTED (the server's stream limit) are retried until
  the wait's own timeout, every 5 s at most;
- every gRPC error is raised as a :class:`~motiflens_client.errors.MotiflensClientError`
  subclass (``NotFound``, ``InvalidArgument``, ...);
- with a ``token``, every call carries ``authorization: Bearer <token>``.

Needs grpcio, protobuf, numpy and tqdm (progress bars, imported only when one is shown);
TensorFlow is never imported (``Client.local``
starts the servers as separate processes).
"""

from __future__ import annotations

from motiflens_client.sdk._calls import (
    BACKOFF_SECONDS,
    DEFAULT_DATABASE,
    PATIENT_BACKOFF_CAP_SECONDS,
)
from motiflens_client.sdk.handles import AttributionJob, Job, MotifsJob, Sweep, VariantsJob
from motiflens_client.sdk.interpreter import InterpreterCalls
from motiflens_client.sdk.local import LOCAL_STOP_GRACE_SECONDS
from motiflens_client.sdk.model_files import ModelFileCalls
from motiflens_client.sdk.motifmatch import MotifMatchCalls
from motiflens_client.sdk.trainer import TrainerCalls

__all__ = [
    "AttributionJob",
    "Client",
    "Job",
    "MotifsJob",
    "Sweep",
    "VariantsJob",
    "BACKOFF_SECONDS",
    "DEFAULT_DATABASE",
    "LOCAL_STOP_GRACE_SECONDS",
    "PATIENT_BACKOFF_CAP_SECONDS",
]


class Client(TrainerCalls, ModelFileCalls, InterpreterCalls, MotifMatchCalls):
    """Client of the trainer, interpreter and motifmatch services.

    Parameters
    ----------
    address : str, default "127.0.0.1:50051"
        Trainer ``host:port``.
    interpreter_address, motifmatch_address : str, optional
        Default: the trainer's host with port + 1 and port + 2 (the ``make up`` layout).
    token : str, optional
        Bearer token sent as ``authorization: Bearer <token>`` on every call.
    tls : bool, str or os.PathLike, optional
        None/False: plaintext; True: TLS with the system's root certificates; a path:
        TLS trusting the PEM root certificate in that file.
    timeout : float, default 60.0
        Deadline of each call in seconds, retries included (calls with their own
        ``timeout`` argument use it instead).
    retries : int, default 3
        Retries of a call that failed with UNAVAILABLE (backoff 0.2 s, 0.4 s, 0.8 s, ...).
        Other codes are never retried.

    Raises
    ------
    InvalidArgument
        A non-positive timeout, negative retries, an address without a port when the
        others must be derived from it, or an unreadable certificate file.

    Notes
    -----
    The environment (e.g. ``MOTIFLENS_ADDRESS``) is not read; the CLI does that.
    Use as a context manager, or call :meth:`close`.
    """
