"""Handles on long-running work: :class:`Job`, :class:`Sweep`, :class:`AttributionJob`, :class:`MotifsJob`.

Each has events, a wait with a progress bar (:mod:`motiflens_client.sdk.progress`), and cancel.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import closing
from typing import TYPE_CHECKING, Any

from motiflens_client import _convert
from motiflens_client.errors import (
    DeadlineExceeded,
    JobFailed,
    MotiflensClientError,
)
from motiflens_client.sdk.progress import Progress, close_bar, open_bar
from motiflens_client.sdk.progress import in_notebook as _in_notebook
from motiflens_client.sdk.progress import is_tty as _is_tty
from motiflens_client.types import (
    AttributionJobInfo,
    AttributionProgress,
    EpochEvent,
    JobInfo,
    MotifsJobInfo,
    SweepInfo,
    VariantsJobInfo,
)
from motiflens_client.wire import pb
from motiflens_client.wire.vocabulary import TERMINAL_STATES, state_name

if TYPE_CHECKING:
    from motiflens_client.sdk._calls import ClientBase


#: tqdm's bar_format of a job's epochs: "job-... epoch 3/10 |###   | 00:12<00:28, loss ...".
EPOCH_BAR_FORMAT = "{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed}<{remaining}{postfix}"


def _bar(progress: Progress, **options: Any) -> Any:
    """:func:`open_bar` on stderr as of now; ``_is_tty`` and ``_in_notebook`` are looked up here."""
    stream = sys.stderr
    return open_bar(progress, stream=stream, tty=_is_tty(stream), notebook=_in_notebook(), **options)


def _job_summary(info: JobInfo) -> str:
    """``job-... SUCCEEDED after 10 epochs: test AUROC 0.912 AUPR 0.705`` (or the error)."""
    text = f"{info.job_id} {info.state} after {info.epochs_done} epochs"
    if info.test_metrics is not None:
        text += f": test AUROC {info.test_metrics.auroc:.3f} AUPR {info.test_metrics.aupr:.3f}"
    elif info.error:
        text += f": {info.error}"
    return text


class Job:
    """A training job on the trainer service.

    Parameters
    ----------
    client : Client
    job_id : str

    Attributes
    ----------
    job_id : str
    last_info : JobInfo or None
        The final state, once :meth:`events` has run to the end.
    """

    def __init__(self, client: ClientBase, job_id: str) -> None:
        self.client = client
        self.job_id = job_id
        self.last_info: JobInfo | None = None

    def __repr__(self) -> str:
        return f"Job({self.job_id!r})"

    def _get(self) -> pb.Job:
        client = self.client
        return client._unary(client._trainer, "GetJob", pb.GetJobRequest(job_id=self.job_id)).job

    def info(self) -> JobInfo:
        """The job's current state.

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown job id.
        """
        return _convert.job_info(self._get())

    def events(self, *, timeout: float | None = None) -> Iterator[EpochEvent]:
        """Finished epochs: past ones first, then live ones; stops when the job ends.

        Parameters
        ----------
        timeout : float, optional
            Seconds for the whole stream; default: no limit.

        Yields
        ------
        EpochEvent
            Epochs 1, 2, ... in order (a stream restarted after UNAVAILABLE does not
            repeat epochs). After the last one, ``last_info`` holds the final JobInfo.

        Raises
        ------
        NotFound, InvalidArgument
            Unknown or malformed job id.
        DeadlineExceeded
            ``timeout`` passed first.
        """
        last_epoch = 0
        self.last_info = None
        for event in _job_events(self.client, self.job_id, timeout):
            payload = event.WhichOneof("payload")
            if payload == "epoch":
                if event.epoch.epoch <= last_epoch:
                    continue
                last_epoch = event.epoch.epoch
                yield _convert.epoch_event(event.epoch)
            elif payload == "final":
                self.last_info = _convert.job_info(event.final)
                return

    def wait(self, *, timeout: float | None = None, progress: Progress = None) -> JobInfo:
        """Follow the job until it ends.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait; default: no limit.
        progress : None, bool or callable
            A bar of epochs done of the job's epochs, with loss and validation AUPR/AUROC,
            then a line with the final state, on stderr. None (default): only when stderr
            is a terminal or inside a notebook; True: always (a log file gets one line per
            epoch); False: never; or a tqdm-compatible factory (see
            :mod:`motiflens_client.sdk.progress`).

        Returns
        -------
        JobInfo
            State SUCCEEDED, with ``model_id`` and ``test_metrics``.

        Raises
        ------
        JobFailed
            The job ended FAILED or CANCELLED (``.job`` is its final JobInfo).
        DeadlineExceeded
            ``timeout`` passed first.
        InvalidArgument
            ``progress`` of another type.
        """
        bar = _bar(
            progress,
            total=lambda: self._get().training.epochs or None,
            desc=f"{self.job_id} epoch",
            unit="epoch",
            bar_format=EPOCH_BAR_FORMAT,
            every_step=True,
        )
        with closing(bar):
            for event in self.events(timeout=timeout):
                bar.set_postfix_str(
                    f"loss {event.loss:.4f} val AUPR {event.val_aupr:.3f} AUROC {event.val_auroc:.3f}",
                    refresh=False,
                )
                if bar.total is not None and event.epoch > bar.total:  # never expected: a resumed job
                    bar.total = event.epoch
                bar.update(event.epoch - bar.n)
            info = self.last_info or self.info()
            close_bar(bar, progress, _job_summary(info))
        if info.state in ("FAILED", "CANCELLED"):
            raise JobFailed(info)
        return info

    def cancel(self) -> JobInfo:
        """Cancel the job: a queued one at once, a running one after its current epoch.

        Returns
        -------
        JobInfo
            CANCELLED for a queued job, still RUNNING for a running one (``wait`` then
            raises JobFailed), unchanged for a finished one.
        """
        client = self.client
        response = client._unary(client._trainer, "CancelJob", pb.CancelJobRequest(job_id=self.job_id))
        return _convert.job_info(response.job)


class Sweep:
    """A sweep on the trainer service: a grid of ordinary training jobs.

    Parameters
    ----------
    client : Client
    sweep_id : str
    """

    def __init__(self, client: ClientBase, sweep_id: str) -> None:
        self.client = client
        self.sweep_id = sweep_id

    def __repr__(self) -> str:
        return f"Sweep({self.sweep_id!r})"

    def _get(self, include_jobs: bool) -> pb.GetSweepResponse:
        client = self.client
        request = pb.GetSweepRequest(sweep_id=self.sweep_id, include_jobs=include_jobs)
        return client._unary(client._trainer, "GetSweep", request)

    def info(self) -> SweepInfo:
        """Progress now (in a cluster also the Kubernetes Job's status).

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown sweep id.
        """
        return _convert.sweep_info(self._get(False).sweep)

    def jobs(self) -> list[JobInfo]:
        """Every job of the sweep, in grid order."""
        return [_convert.job_info(job) for job in self._get(True).jobs]

    def job(self, index: int) -> Job:
        """The job of configuration ``index`` (grid order)."""
        return Job(self.client, self.info().job_ids[index])

    def wait(
        self, *, timeout: float | None = None, poll: float = 2.0, progress: Progress = None
    ) -> SweepInfo:
        """Poll until every job has finished; return the final SweepInfo.

        A sweep in which some jobs failed is still returned (state FAILED, with
        ``failed`` > 0; :meth:`jobs` gives each one's ``error``) rather than raised:
        the other configurations' models are usable.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait; default: no limit.
        poll : float, default 2.0
            Seconds between GetSweep calls.
        progress : None, bool or callable
            A bar of finished jobs of all, with the running, succeeded, failed and
            cancelled counts, on stderr; as for :meth:`Job.wait` (default: when stderr is
            a terminal or in a notebook).

        Raises
        ------
        DeadlineExceeded
            ``timeout`` passed first.
        InvalidArgument
            ``progress`` of another type.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        info = self.info()
        bar = _bar(progress, total=info.total, desc=self.sweep_id, unit="job", every_step=True)
        last = None
        with closing(bar):
            while True:
                counts = (info.pending, info.running, info.succeeded, info.failed, info.cancelled)
                if counts != last:
                    done = info.succeeded + info.failed + info.cancelled
                    # A new count of running jobs alone redraws too (a log gets a line).
                    bar.set_postfix_str(
                        f"{info.running} running, {info.succeeded} succeeded, {info.failed} failed, "
                        f"{info.cancelled} cancelled",
                        refresh=done == bar.n,
                    )
                    if done != bar.n:
                        bar.update(done - bar.n)
                    last = counts
                if info.done:
                    close_bar(bar, progress, f"{self.sweep_id} {info.state}")
                    return info
                if deadline is not None and time.monotonic() >= deadline:
                    raise DeadlineExceeded(
                        f"sweep {self.sweep_id} still {info.state} after {timeout} s "
                        f"({info.succeeded + info.failed + info.cancelled}/{info.total} done)"
                    )
                time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
                info = self.info()

    def model_ids(self) -> list[str]:
        """Model ids of the succeeded configurations, in grid order."""
        return [job.model_id for job in self.jobs() if job.state == "SUCCEEDED"]

    def cancel(self) -> SweepInfo:
        """Cancel every unfinished job (queued ones at once, running ones after their epoch)."""
        client = self.client
        response = client._unary(
            client._trainer, "CancelSweep", pb.CancelSweepRequest(sweep_id=self.sweep_id)
        )
        return _convert.sweep_info(response.sweep)


class AttributionJob:
    """An attribution job on the trainer service (``Client.attribute_split``).

    Parameters
    ----------
    client : Client
    job_id : str

    Attributes
    ----------
    job_id : str
    last_info : AttributionJobInfo or None
        The final state, once :meth:`events` has run to the end.
    """

    def __init__(self, client: ClientBase, job_id: str) -> None:
        self.client = client
        self.job_id = job_id
        self.last_info: AttributionJobInfo | None = None

    def __repr__(self) -> str:
        return f"AttributionJob({self.job_id!r})"

    def info(self) -> AttributionJobInfo:
        """The job's current state and progress.

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown job id.
        """
        client = self.client
        job = client._unary(client._trainer, "GetJob", pb.GetJobRequest(job_id=self.job_id)).job
        return _convert.attribution_job_info(job)

    def events(self, *, timeout: float | None = None) -> Iterator[AttributionProgress]:
        """Finished shards: past ones first, then live ones; stops when the job ends.

        After the last one, ``last_info`` holds the final AttributionJobInfo.
        """
        last = 0
        self.last_info = None
        for event in _job_events(self.client, self.job_id, timeout):
            payload = event.WhichOneof("payload")
            if payload == "progress":
                if event.progress.shards_done <= last:
                    continue
                last = event.progress.shards_done
                yield _convert.attribution_progress(event.progress)
            elif payload == "final":
                self.last_info = _convert.attribution_job_info(event.final)
                return

    def wait(self, *, timeout: float | None = None, progress: Progress = None) -> AttributionJobInfo:
        """Follow the job until it ends; returns the SUCCEEDED info (with ``attributions_id``).

        ``progress`` as for :meth:`Job.wait`: a bar of sequences done of all (and shards),
        on stderr.

        Raises
        ------
        JobFailed
            The job ended FAILED or CANCELLED.
        DeadlineExceeded
            ``timeout`` passed first.
        """
        bar = _bar(
            progress,
            total=lambda: self.info().num_sequences or None,
            desc=self.job_id,
            unit="seq",
            every_step=True,
        )
        with closing(bar):
            for event in self.events(timeout=timeout):
                _advance(bar, event, f"shard {event.shards_done}/{event.shards}")
            info = self.last_info or self.info()
            close_bar(bar, progress, f"{info.job_id} {info.state} {info.attributions_id or info.error}")
        if info.state in ("FAILED", "CANCELLED"):
            raise JobFailed(info)  # type: ignore[arg-type]  # JobFailed reads job_id, state, error
        return info

    def cancel(self) -> AttributionJobInfo:
        """Cancel the job: a queued one at once, a running one after its current block of sequences."""
        client = self.client
        response = client._unary(client._trainer, "CancelJob", pb.CancelJobRequest(job_id=self.job_id))
        return _convert.attribution_job_info(response.job)


class MotifsJob:
    """A TF-MoDISco job on the trainer service (``Client.discover_motifs_job``).

    Attributes
    ----------
    job_id : str
    """

    def __init__(self, client: ClientBase, job_id: str) -> None:
        self.client = client
        self.job_id = job_id

    def __repr__(self) -> str:
        return f"MotifsJob({self.job_id!r})"

    def info(self) -> MotifsJobInfo:
        """The job's current state (``motifs_id`` once SUCCEEDED)."""
        client = self.client
        job = client._unary(client._trainer, "GetJob", pb.GetJobRequest(job_id=self.job_id)).job
        return _convert.motifs_job_info(job)

    def wait(self, *, timeout: float | None = None) -> MotifsJobInfo:
        """Follow the job until it ends; returns the SUCCEEDED info.

        Raises
        ------
        JobFailed
            The job ended FAILED or CANCELLED.
        DeadlineExceeded
            ``timeout`` passed first.
        """
        final: MotifsJobInfo | None = None
        for event in _job_events(self.client, self.job_id, timeout):
            if event.WhichOneof("payload") == "final":
                final = _convert.motifs_job_info(event.final)
        info = final or self.info()
        if info.state in ("FAILED", "CANCELLED"):
            raise JobFailed(info)  # type: ignore[arg-type]  # JobFailed reads job_id, state, error
        return info

    def cancel(self) -> MotifsJobInfo:
        """Cancel the job (a running TF-MoDISco stops at its next heartbeat)."""
        client = self.client
        response = client._unary(client._trainer, "CancelJob", pb.CancelJobRequest(job_id=self.job_id))
        return _convert.motifs_job_info(response.job)


def _advance(bar: Any, event: AttributionProgress, postfix: str) -> None:
    """Move ``bar`` to ``event.sequences_done`` of ``event.num_sequences`` (a shard just finished)."""
    if event.num_sequences and bar.total != event.num_sequences:  # unknown when the bar opened
        bar.total = event.num_sequences
    bar.set_postfix_str(postfix, refresh=False)
    bar.update(event.sequences_done - bar.n)


def _job_events(client: ClientBase, job_id: str, timeout: float | None) -> Iterator[pb.JobEvent]:
    """WatchJob's events of a job, always ending with its final one.

    The stream restarts through outages (events may repeat; callers de-duplicate). While
    the server refuses the stream (its stream limit), a unary GetJob tells whether the
    job has finished meanwhile; the final event is then made from it.
    """
    final: list[pb.Job] = []

    def ended() -> bool:
        try:
            job = client._unary(client._trainer, "GetJob", pb.GetJobRequest(job_id=job_id)).job
        except MotiflensClientError:
            return False
        if state_name(job.state) in TERMINAL_STATES:
            final.append(job)
            return True
        return False

    for event in client._stream(
        client._trainer,
        "WatchJob",
        pb.WatchJobRequest(job_id=job_id),
        timeout=timeout,
        patient=True,
        give_up=ended,
    ):
        yield event
        if event.WhichOneof("payload") == "final":
            return
    # Refused until the job ended, or (not expected) a stream that ended without a final event.
    job = (
        final[-1] if final else client._unary(client._trainer, "GetJob", pb.GetJobRequest(job_id=job_id)).job
    )
    yield pb.JobEvent(job_id=job_id, state=job.state, final=job)


class VariantsJob:
    """A variant scoring job on the trainer service (``Client.score_variants_job``)."""

    def __init__(self, client: ClientBase, job_id: str) -> None:
        self.client = client
        self.job_id = job_id

    def __repr__(self) -> str:
        return f"VariantsJob({self.job_id!r})"

    def info(self) -> VariantsJobInfo:
        """The job's current state and progress (``variants_id`` once SUCCEEDED)."""
        client = self.client
        job = client._unary(client._trainer, "GetJob", pb.GetJobRequest(job_id=self.job_id)).job
        return _convert.variants_job_info(job)

    def events(self, *, timeout: float | None = None) -> Iterator[AttributionProgress]:
        """Finished shards (alleles as ``sequences_done``/``num_sequences``); stops when the job ends."""
        last = 0
        for event in _job_events(self.client, self.job_id, timeout):
            if event.WhichOneof("payload") == "progress" and event.progress.shards_done > last:
                last = event.progress.shards_done
                yield _convert.attribution_progress(event.progress)
            elif event.WhichOneof("payload") == "final":
                return

    def wait(self, *, timeout: float | None = None, progress: Progress = None) -> VariantsJobInfo:
        """Follow the job until it ends; returns the SUCCEEDED info.

        ``progress`` as for :meth:`Job.wait`: a bar of alleles scored of all (and shards),
        on stderr.

        Raises
        ------
        JobFailed
            The job ended FAILED or CANCELLED.
        """
        bar = _bar(
            progress,
            total=lambda: self.info().alleles or None,
            desc=self.job_id,
            unit="allele",
            every_step=True,
        )
        final: VariantsJobInfo | None = None
        with closing(bar):
            last = 0
            for event in _job_events(self.client, self.job_id, timeout):
                payload = event.WhichOneof("payload")
                if payload == "progress" and event.progress.shards_done > last:
                    last = event.progress.shards_done
                    step = _convert.attribution_progress(event.progress)
                    _advance(bar, step, f"shard {step.shards_done}/{step.shards}")
                elif payload == "final":
                    final = _convert.variants_job_info(event.final)
            info = final or self.info()
            close_bar(bar, progress, f"{info.job_id} {info.state} {info.variants_id or info.error}")
        if info.state in ("FAILED", "CANCELLED"):
            raise JobFailed(info)  # type: ignore[arg-type]  # JobFailed reads job_id, state, error
        return info

    def cancel(self) -> VariantsJobInfo:
        """Cancel the job (a running shard stops at its next batch)."""
        client = self.client
        response = client._unary(client._trainer, "CancelJob", pb.CancelJobRequest(job_id=self.job_id))
        return _convert.variants_job_info(response.job)
