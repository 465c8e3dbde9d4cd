"""The attribution-job entrypoint: compute shards, store them, merge them into the artifact.

:func:`run_attribution_job` is the one code path that computes an attribution job
(see :mod:`services.trainer.attribution_jobs` for the layout and the executors). The
trainer's worker processes call it without ``shard`` and it computes every shard not
stored yet, then merges; a pod of the job's Kubernetes Indexed Job calls it with its
index (``python -m services.trainer.worker --attribution-job <id>``) and computes that
shard, then merges if it finds every shard stored. Outcomes and failures are recorded
as for training jobs (:mod:`services.trainer.worker`): UnavailableError when the store
stays unreachable (the job is then resumed: stored shards are kept), any other error
FAILED with its message, a cancel record honoured between blocks.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np

import motiflens
from motiflens.errors import AlreadyExistsError, InvalidInputError, NotFoundError, UnavailableError
from services.common.attributions import ATTRIBUTIONS_KIND
from services.common.config import DEFAULT_STORE_RETRY_SECONDS
from services.common.labels import set_labels
from services.common.store import ArtifactStore, utc_now
from services.trainer import attribution_jobs as jobs_spec
from services.trainer.worker import (
    JOBS_NAMESPACE,
    TERMINAL,
    JobAbandoned,
    _announce,
    _check_still_ours,
    _enable_gpu_memory_growth,
    _error_message,
    _write_final,
    cancel_requested,
    open_job,
)

logger = logging.getLogger(__name__)

#: Rows per block when shards are copied into the final files.
MERGE_BLOCK_ROWS = 1024


class _Cancelled(Exception):
    """A cancel record was found between blocks."""


def run_attribution_job(
    store_url: str,
    job_id: str,
    *,
    shard: int | None = None,
    retry_seconds: float = float(DEFAULT_STORE_RETRY_SECONDS),
) -> None:
    """Compute the attribution job ``job_id`` (every missing shard, or only ``shard``); record the outcome.

    Parameters
    ----------
    store_url : str
    job_id : str
        A job written by ``AttributeSplit``.
    shard : int, optional
        Only this shard (a Kubernetes pod's index); the job is merged when every shard
        is stored. None: every shard this process finds missing, then the merge.
    retry_seconds : float, default 120

    Raises
    ------
    UnavailableError
        The store stayed unreachable; stored shards are kept for the next run.
    """
    opened = open_job(store_url, job_id, retry_seconds)
    if opened is None:
        return
    store, record = opened
    spec = record["attribution"]
    if shard is not None and not 0 <= shard < int(spec["shards"]):
        raise InvalidInputError(f"index: job {job_id} has shards 0..{int(spec['shards']) - 1}, got {shard}")
    record = claim_job(store, record, claim=shard is None)
    try:
        indexes = range(int(spec["shards"])) if shard is None else [shard]
        _compute(store, record, indexes, claimed=shard is None)
        done = jobs_spec.stored_shards(store, record)
        if len(done) == int(spec["shards"]):
            _merge(store, record)
    except _Cancelled:
        shards_done, sequences_done = jobs_spec.progress(store, record)
        record["attribution"].update(shards_done=shards_done, sequences_done=sequences_done)
        _write_final(store, record, "CANCELLED", error=f"cancelled by request after {shards_done} shard(s)")
        delete_shards(store, record)
    except JobAbandoned as exc:
        logger.warning("job %s: abandoned: %s", job_id, exc)
    except UnavailableError:
        logger.exception("job %s: the store is unreachable; leaving the job to be resumed", job_id)
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
        logger.exception("job %s failed", job_id)
        _write_final(store, record, "FAILED", error=_error_message(exc))
        delete_shards(store, record)


def claim_job(store: ArtifactStore, record: dict, *, claim: bool = True) -> dict:
    """Mark the job RUNNING; a local worker also claims it (its pid), a pod only starts it.

    Pods of one job run at once and write the record only while it is PENDING (the
    first one), so a late pod never writes RUNNING over another pod's final state.
    """
    if not claim and record.get("state") != "PENDING":
        return record
    record.update(state="RUNNING", started_at=record.get("started_at") or utc_now(), updated_at=utc_now())
    if claim:
        record["worker"] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "attempt": uuid.uuid4().hex[:12],
        }
    store.put_record(JOBS_NAMESPACE, record["job_id"], record)
    _announce(record["job_id"])
    return record


def _load_model(store: ArtifactStore, model_id: str):
    from motiflens.models import load_model

    with tempfile.TemporaryDirectory(prefix="motiflens-model-") as tmp:
        store.fetch_artifact(model_id, Path(tmp))
        return load_model(Path(tmp))


def _compute(store: ArtifactStore, record: dict, indexes: Iterable[int], *, claimed: bool) -> None:
    """Store every shard of ``indexes`` not stored yet."""
    from motiflens.attribution import DEFAULT_BATCH_SIZE, attribute
    from motiflens.attribution.files import MapFileWriter
    from motiflens.sequences import one_hot
    from services.common.datasets import load_split

    spec = record["attribution"]
    job_id = record["job_id"]
    missing = [i for i in indexes if i not in jobs_spec.stored_shards(store, record)]
    if not missing:
        return
    _enable_gpu_memory_growth()
    model = _load_model(store, spec["model_id"])
    if spec.get("fasta_upload_id"):
        records = jobs_spec.read_fasta_upload(store, spec["fasta_upload_id"])

        def rows_of(start: int, stop: int) -> np.ndarray:  # one shard's one-hot at a time
            return one_hot(records.sequences[start:stop])
    else:
        X = load_split(store, spec["dataset_id"], spec["split"], spec["offset"], spec["num_sequences"])

        def rows_of(start: int, stop: int) -> np.ndarray:
            return X[start:stop]

    method, options, chunk = spec["method"], dict(spec["options"]), int(spec["chunk_size"])
    by_index = method in ("integrated_gradients", "deepshap")
    chunk = _block_rows(method, chunk, int(spec["input_length"]))
    for index in missing:
        start, stop = jobs_spec.shard_rows(spec, index)
        shard = rows_of(start, stop)
        with tempfile.TemporaryDirectory(prefix="motiflens-shard-") as tmp:
            with MapFileWriter(
                tmp, jobs_spec.SHARD_FILE_FORMAT, stop - start, int(spec["input_length"])
            ) as writer:
                for block in range(0, stop - start, chunk):
                    if cancel_requested(store, job_id):
                        raise _Cancelled
                    if claimed:
                        _check_still_ours(store, record)
                    rows = shard[block : block + chunk]
                    # References are drawn by row index within the job: sharding changes nothing.
                    extra = {"index_offset": start + block} if by_index else {}
                    result = attribute(model, rows, method, **options, **extra, batch_size=DEFAULT_BATCH_SIZE)
                    writer.append(rows, np.asarray(result.hypothetical, np.float32))
            path = writer.paths[0]
            try:
                store.put_artifact(
                    jobs_spec.SHARD_KIND,
                    {path.name: path},
                    artifact_id=jobs_spec.shard_id(job_id, index),
                    metadata={
                        "job_id": job_id,
                        "shard": index,
                        "start": start,
                        "stop": stop,
                        "worker": f"{socket.gethostname()}:{os.getpid()}",
                    },
                )
            except AlreadyExistsError:  # another pod of the same index got there first
                pass
        logger.info(
            "job %s: shard %d of %d stored (rows %d-%d)", job_id, index + 1, spec["shards"], start, stop
        )
        _announce(job_id)


def _block_rows(method: str, chunk: int, input_length: int) -> int:
    """Sequences attributed per block: ``chunk``, or one full pass for saliency.

    Saliency is one row per sequence, so a small chunk would run part-full passes
    (a chunk of 64 takes about twice as long per sequence as a pass of 256); it is
    attributed DEFAULT_BATCH_SIZE sequences at a time, within the block memory limit
    the chunk size was checked against. The other methods evaluate many rows per
    sequence, so a chunk already fills their passes. The file is the same whatever
    the block (rows are appended in order).
    """
    if method != "saliency":
        return chunk
    from motiflens.attribution import DEFAULT_BATCH_SIZE

    fits = jobs_spec.MAX_BLOCK_BYTES // (jobs_spec.MAPS_PER_BLOCK * input_length * 4 * 4)
    return max(chunk, min(DEFAULT_BATCH_SIZE, fits))


def _merge(store: ArtifactStore, record: dict) -> None:
    """Stream every shard, in order, into the final artifact; record SUCCEEDED; delete the shards."""
    from motiflens.attribution.files import MapFileWriter, read_map_rows

    spec = record["attribution"]
    job_id = record["job_id"]
    artifact_id = jobs_spec.attributions_id_for(job_id)
    n, length = int(spec["num_sequences"]), int(spec["input_length"])
    with tempfile.TemporaryDirectory(prefix="motiflens-attributions-") as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        try:
            store.get_manifest(artifact_id, kind=ATTRIBUTIONS_KIND)
            merged = True  # an earlier merge stored it and was interrupted before recording
        except NotFoundError:
            merged = False
        if not merged:
            computed_by = []  # which process computed each shard (host:pid), for the provenance
            with MapFileWriter(out, spec["format"], n, length) as writer:
                for index in range(int(spec["shards"])):
                    shard_dir = Path(tmp) / f"shard{index}"
                    shard = store.fetch_artifact(jobs_spec.shard_id(job_id, index), shard_dir)
                    computed_by.append(str(shard.metadata.get("worker", "")))
                    rows = jobs_spec.shard_rows(spec, index)
                    for block in range(0, rows[1] - rows[0], MERGE_BLOCK_ROWS):
                        one_hot, hypothetical = read_map_rows(
                            shard_dir, jobs_spec.SHARD_FILE_FORMAT, block, block + MERGE_BLOCK_ROWS
                        )
                        writer.append(one_hot, hypothetical)
                    for path in shard_dir.iterdir():
                        path.unlink()
            _check_final(store, record)
            provenance = {
                "job_id": job_id,
                "model_id": spec["model_id"],
                "dataset_id": spec["dataset_id"],
                "split": spec["split"],
                "offset": spec["offset"],
                "fasta_upload_id": spec.get("fasta_upload_id", ""),
                "num_sequences": n,
                "method": spec["method"],
                "options": spec["options"],
                "code_version": motiflens.__version__,
            }
            try:
                store.put_artifact(
                    ATTRIBUTIONS_KIND,
                    {path.name: path for path in writer.paths},
                    artifact_id=artifact_id,
                    metadata={
                        **provenance,
                        "name": spec.get("name", ""),
                        "format": spec["format"],
                        "input_length": length,
                        "shape": [n, 4, length],
                        "shard_workers": computed_by,
                        "layout": "modisco-lite: one-hot and hypothetical maps, (N, 4, L) float32, A C G T",
                    },
                    provenance=provenance,
                )
            except AlreadyExistsError:  # two pods merged at once
                pass
            if spec.get("labels"):
                set_labels(store, artifact_id, spec["labels"])
    spec.update(shards_done=int(spec["shards"]), sequences_done=n, attributions_id=artifact_id)
    _write_final(store, record, "SUCCEEDED", error="")
    delete_shards(store, record)


def delete_shards(store: ArtifactStore, record: dict) -> None:
    """Delete the stored shards of a finished job (best effort: a leftover only costs space)."""
    for index in range(int(record["attribution"]["shards"])):
        try:
            store.delete_artifact(jobs_spec.shard_id(record["job_id"], index), kind=jobs_spec.SHARD_KIND)
        except NotFoundError:
            continue
        except Exception:  # noqa: BLE001
            logger.warning("job %s: could not delete shard %d", record["job_id"], index, exc_info=True)


def _check_final(store: ArtifactStore, record: dict) -> None:
    """Stop before publishing when the job was finished or cancelled meanwhile."""
    current = store.get_record(JOBS_NAMESPACE, record["job_id"])
    if current.get("state") in TERMINAL:
        raise JobAbandoned(f"job {record['job_id']} is {current['state']} already")
    if cancel_requested(store, record["job_id"]):
        raise _Cancelled
