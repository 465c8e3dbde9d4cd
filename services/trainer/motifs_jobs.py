"""Motif discovery jobs: TF-MoDISco on a stored attributions artifact, as a job that outlives restarts.

``DiscoverMotifsJob`` takes the same DiscoverMotifsRequest as the interpreter's
streamed DiscoverMotifs, with ``attributions_id`` required (the maps come from an
attribution job; nothing is attributed here). The request is checked in the RPC thread
with the interpreter's own checks (:mod:`services.common.discovery`: the artifact, the
TF-MoDISco settings, the database, the threshold, the memory estimate against
``MOTIFLENS_DISCOVERY_MEMORY_MB``), stored as a blob (``job_requests/<job id>``) and
recorded as a job of kind "motifs". A worker process of the trainer reads it back,
runs TF-MoDISco in its memory-limited child process, matches the patterns with Tomtom
and stores the result as the "motifs" artifact ``motifs-<the job's hex>``
(InterpreterService.GetMotifs reads it). The job's record, restart and adoption rules
are those of every job (:mod:`services.trainer.jobs`): an interrupted job runs again
from the stored artifact; a result stored before the interruption is found by its id.
Cancellation is checked at every heartbeat of the child process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from motiflens_client.wire import pb

from motiflens.errors import CancelledError, UnavailableError
from services.common import discovery
from services.common.attribution_options import attribution_settings
from services.common.attributions import map_shape
from services.common.config import DEFAULT_STORE_RETRY_SECONDS, DiscoveryLimits
from services.common.errors import invalid
from services.common.store import ArtifactStore, utc_now

logger = logging.getLogger(__name__)

KIND = "motifs"
REQUESTS_NAMESPACE = "job_requests"


def motifs_id_for(job_id: str) -> str:
    """The id of the job's result: ``motifs-`` and the job's hex digits."""
    return f"{discovery.MOTIFS_KIND}-{job_id.split('-', 1)[1]}"


def is_motifs(record: Mapping) -> bool:
    """Whether a job record is a motif discovery job's."""
    return record.get("kind") == KIND


def prepare(store: ArtifactStore, request: pb.DiscoverMotifsRequest, limits: DiscoveryLimits) -> dict:
    """Check a DiscoverMotifsJob request; return the job's ``motifs`` part (nothing is written).

    Raises
    ------
    InvalidInputError, NotFoundError, FailedPreconditionError, ResourceExhaustedError
        As DiscoverMotifs on a stored artifact: no ``attributions_id``, fields the
        artifact decides, bad settings or database, no positive row, or more than the
        child process's memory.
    """
    if not request.attributions_id:
        raise invalid(
            "attributions_id",
            "required: a job runs TF-MoDISco on a stored attributions artifact (TrainerService."
            "AttributeSplit); for inline sequences call InterpreterService.DiscoverMotifs",
        )
    manifest = discovery.stored_attributions(store, request)
    assert manifest is not None  # attributions_id is set
    n, length = map_shape(manifest)
    chosen = discovery.plan(request, store, length)
    keep = discovery.stored_rows(store, manifest, request.positives_only)
    count = n if keep is None else int(keep.sum())
    discovery.check_fits(count, length, chosen.settings, limits)
    return {
        "attributions_id": manifest.artifact_id,
        "model_id": manifest.provenance["model_id"],
        "num_sequences": count,
        "database": chosen.database_name,
        "name": chosen.name,
        "motifs_id": "",
        "num_patterns": 0,
    }


def new_record(
    job_id: str, spec: Mapping, request: pb.DiscoverMotifsRequest, store: ArtifactStore, **owner
) -> dict:
    """Store the request (``job_requests/<job id>``) and return the job's PENDING record.

    ``owner`` is ``owner=`` and ``executor=`` as for every job record.
    """
    store.put_blob(REQUESTS_NAMESPACE, job_id, request.SerializeToString())
    return {
        "job_id": job_id,
        "kind": KIND,
        "state": "PENDING",
        "dataset_id": "",
        "name": spec["name"],
        "motifs": dict(spec),
        "error": "",
        "created_at": utc_now(),
        "created_time": time.time(),
        "started_at": "",
        "finished_at": "",
        "owner": owner["owner"],
        "executor": owner.get("executor", "local"),
        "sweep_id": "",
        "sweep_index": 0,
        "worker": None,
        "labels": {},
    }


def job_message(record: Mapping) -> pb.MotifsJob:
    """The MotifsJob part of a Job message."""
    spec = record["motifs"]
    return pb.MotifsJob(
        attributions_id=spec["attributions_id"],
        motifs_id=spec.get("motifs_id", ""),
        num_sequences=int(spec.get("num_sequences", 0)),
        num_patterns=int(spec.get("num_patterns", 0)),
        database=spec.get("database", ""),
    )


def run_motifs_job(
    store_url: str, job_id: str, *, retry_seconds: float = float(DEFAULT_STORE_RETRY_SECONDS)
) -> None:
    """Run the motif discovery job ``job_id``; record SUCCEEDED (with the result's id), FAILED or CANCELLED.

    Raises
    ------
    UnavailableError
        The store stayed unreachable; the job is run again later.
    """
    from services.trainer.attribution_worker import claim_job
    from services.trainer.worker import JobAbandoned, _error_message, _write_final, cancel_requested, open_job

    opened = open_job(store_url, job_id, retry_seconds)
    if opened is None:
        return
    store, record = opened
    record = claim_job(store, record)
    try:
        request = pb.DiscoverMotifsRequest.FromString(store.get_blob(REQUESTS_NAMESPACE, job_id))
        manifest = discovery.stored_attributions(store, request)
        assert manifest is not None
        _, length = map_shape(manifest)
        chosen = discovery.plan(request, store, length)
        one_hot, hypothetical = discovery.read_stored_maps(
            store, manifest, discovery.stored_rows(store, manifest, request.positives_only)
        )
        runs = discovery.run_discovery(
            one_hot,
            hypothetical,
            chosen.settings,
            DiscoveryLimits.from_env(),
            lambda: cancel_requested(store, job_id),
        )
        while True:
            try:
                next(runs)
            except StopIteration as finished:
                patterns = finished.value
                break
        origin = manifest.provenance
        result = discovery.finish(
            store,
            patterns,
            chosen,
            attribution=attribution_settings(origin["method"], origin["options"]),
            provenance={
                "model_id": origin["model_id"],
                "attribution": {"method": origin["method"], **origin["options"]},
                "sequences": discovery.describe_sequences(request),
                "job_id": job_id,
            },
            num_sequences=len(one_hot),
            artifact_id=motifs_id_for(job_id),
        )
        record["motifs"].update(
            motifs_id=result.motifs_id, num_sequences=len(one_hot), num_patterns=len(result.patterns)
        )
        _write_final(store, record, "SUCCEEDED", error="")
    except CancelledError:
        _write_final(store, record, "CANCELLED", error="cancelled by request while TF-MoDISco ran")
    except JobAbandoned as exc:
        logger.warning("job %s: abandoned: %s", job_id, exc)
        return
    except UnavailableError:
        logger.exception("job %s: the store is unreachable; leaving the job to be run again", job_id)
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
        logger.exception("job %s failed", job_id)
        _write_final(store, record, "FAILED", error=_error_message(exc))
    try:
        store.delete_blob(REQUESTS_NAMESPACE, job_id)
    except Exception:  # noqa: BLE001 - a leftover request only costs space
        logger.warning("job %s: could not delete its request", job_id, exc_info=True)
