"""Variant scoring jobs: an uploaded VCF's alleles scored shard by shard, merged into one artifact.

``ScoreVariantsJob`` checks the request in the RPC thread (model and its output, both
uploads exist, the VCF reads to its end: its alleles are counted) and records a job of
kind "variants" with the job manager, so the restart, adoption and cancel rules of every
job apply. The alleles (in input order) are cut into shards of ``shard_size``; a worker
scores a shard with the rules of :mod:`motiflens.variants` (the same as the streamed
InterpreterService.ScoreVariants, one strand or both, no maps) and stores it as a
``variants_shard`` artifact (its VariantBatch message and its counts); a resumed run
skips stored shards. When every shard is stored they are concatenated, in order, into
the ``variants`` artifact ``vars-<the job's hex>`` (``scores.pb``: length-prefixed
VariantBatch messages; ``summary.json``: the VariantSummary as JSON), read back by
ReadVariantScores. With the kubernetes executor the job is one Indexed Job, a pod per
shard (``python -m services.trainer.worker --variants-job <id>``), as for attribution
jobs (:mod:`services.trainer.attribution_jobs`, whose launch and reconciliation it shares).

Memory of a worker: the VCF's alleles (at most ``MAX_RECORDS`` records), the genome's
index, and one batch of windows and predictions.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from motiflens_client.wire import pb
from motiflens_client.wire.vocabulary import OUTPUT_BY_NAME

from motiflens.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from services.common.attribution_options import ModelOutputs, check_range, enum_name
from services.common.config import DEFAULT_STORE_RETRY_SECONDS
from services.common.errors import invalid
from services.common.limits import check_name
from services.common.store import ArtifactStore, check_id, utc_now
from services.common.uploads import UPLOAD_KIND, fetch_upload
from services.trainer import attribution_jobs

if TYPE_CHECKING:
    from services.trainer.jobs import JobManager
    from services.trainer.sweeps import SweepManager

logger = logging.getLogger(__name__)

KIND = "variants"
VARIANTS_KIND = "variants"
VARIANTS_PREFIX = "vars"
SHARD_KIND = "variants_shard"
DEFAULT_SHARD_SIZE = 10_000
MAX_SHARD_SIZE = 100_000
MAX_SHARDS = 1024
MAX_RECORDS = 1_000_000
#: Alleles per model pass group inside a shard.
BATCH = 512
_LENGTH = struct.Struct("<I")


def variants_id_for(job_id: str) -> str:
    """The id of the job's artifact: ``vars-`` and the job's hex digits."""
    return f"{VARIANTS_PREFIX}-{job_id.split('-', 1)[1]}"


def is_variants(record: Mapping) -> bool:
    """Whether a job record is a variant scoring job's."""
    return record.get("kind") == KIND


def _upload(store: ArtifactStore, upload_id: str, field: str) -> None:
    check_id(upload_id, field_name=field)
    try:
        store.get_manifest(upload_id, kind=UPLOAD_KIND)
    except NotFoundError:
        raise NotFoundError(f"{field}: no upload {upload_id!r}") from None


def read_alleles(store: ArtifactStore, upload_id: str) -> list:
    """The alleles of an uploaded VCF, input order (parsed in a child: :mod:`services.common.vcf_child`)."""
    from services.common.vcf_child import read_vcf_isolated

    with fetch_upload(store, upload_id, "vcf_upload_id") as (path, _):
        return read_vcf_isolated(path, max_records=MAX_RECORDS, field_name="vcf_upload_id")


def prepare(store: ArtifactStore, request: pb.ScoreVariantsJobRequest) -> dict:
    """Check a ScoreVariantsJob request; return the job's ``variants`` settings (nothing is written).

    Raises
    ------
    InvalidInputError
        A bad output, shard size or name; a malformed VCF (named by record); too many shards.
    NotFoundError
        Unknown model or upload.
    """
    check_name(request.name, "name")
    model_id = check_id(request.model_id, field_name="model_id")
    try:
        manifest = store.get_manifest(model_id, kind="model")
    except NotFoundError:
        raise NotFoundError(f"model_id: no model {model_id!r}") from None
    outputs = ModelOutputs.from_metadata(model_id, manifest.metadata)
    output = outputs.output_kind(
        None if request.output == 0 else enum_name(OUTPUT_BY_NAME, request.output, "output"), default="logit"
    )
    for field_name in ("vcf_upload_id", "genome_upload_id"):
        if not getattr(request, field_name):
            raise invalid(field_name, "required: an upload (TrainerService.Upload)")
        _upload(store, getattr(request, field_name), field_name)
    variants = read_alleles(store, request.vcf_upload_id)
    alleles = len(variants)
    if alleles == 0:
        raise invalid("vcf_upload_id", "the VCF has no record")
    shard_size = (
        check_range(request.shard_size, "shard_size", 1, MAX_SHARD_SIZE, zero=str(DEFAULT_SHARD_SIZE))
        or DEFAULT_SHARD_SIZE
    )
    shards = math.ceil(alleles / shard_size)
    if shards > MAX_SHARDS:
        raise invalid(
            "shard_size",
            f"{alleles} alleles in shards of {shard_size} make {shards} shards, more than {MAX_SHARDS}; "
            f"use at least {math.ceil(alleles / MAX_SHARDS)}",
        )
    return {
        "model_id": model_id,
        "vcf_upload_id": request.vcf_upload_id,
        "genome_upload_id": request.genome_upload_id,
        "output": output,
        "both_strands": bool(request.both_strands),
        "input_length": int(manifest.metadata.get("input_length", 0)),
        "output_activation": outputs.output_activation,
        "alleles": alleles,
        "records": len({v.record for v in variants}),
        "shard_size": shard_size,
        "shards": shards,
        "name": request.name,
        "shards_done": 0,
        "variants_id": "",
    }


def new_record(job_id: str, spec: Mapping, *, owner: str, executor: str) -> dict:
    """A PENDING job record of kind "variants"."""
    return {
        "job_id": job_id,
        "kind": KIND,
        "state": "PENDING",
        "dataset_id": "",
        "name": spec["name"],
        "variants": dict(spec),
        "error": "",
        "created_at": utc_now(),
        "created_time": time.time(),
        "started_at": "",
        "finished_at": "",
        "owner": owner,
        "executor": executor,
        "sweep_id": "",
        "sweep_index": 0,
        "worker": None,
        "labels": {},
    }


def launch(jobs: JobManager, sweeps: SweepManager, spec: Mapping, *, parallelism: int = 0) -> dict:
    """Start a prepared variants job (:func:`services.trainer.attribution_jobs.launch_sharded`)."""
    return attribution_jobs.launch_sharded(
        jobs,
        sweeps,
        lambda job_id, owner, executor: new_record(job_id, spec, owner=owner, executor=executor),
        shards=int(spec["shards"]),
        flag="--variants-job",
        component="variants",
        parallelism=parallelism,
    )


def stored_shards(store: ArtifactStore, record: Mapping, known: set[int] | None = None) -> set[int]:
    """Indexes of the job's shards stored so far (``known``: seen before, skipped and updated)."""
    spec = record["variants"]
    return attribution_jobs.stored_shard_indexes(
        store, record["job_id"], int(spec["shards"]), SHARD_KIND, known
    )


def progress_events(record: Mapping, shards_done: int) -> list[dict]:
    """WatchJob's events of a variants job: one per finished shard (alleles as sequences)."""
    spec = record["variants"]
    return attribution_jobs.shard_progress_events(
        shards_done, int(spec["shards"]), int(spec["shard_size"]), int(spec["alleles"])
    )


def job_message(record: Mapping, shards_done: int | None = None) -> pb.VariantsJob:
    """The VariantsJob part of a Job message."""
    spec = record["variants"]
    return pb.VariantsJob(
        model_id=spec["model_id"],
        vcf_upload_id=spec["vcf_upload_id"],
        genome_upload_id=spec["genome_upload_id"],
        alleles=int(spec["alleles"]),
        shards=int(spec["shards"]),
        shards_done=int(spec.get("shards_done", 0)) if shards_done is None else shards_done,
        variants_id=spec.get("variants_id", ""),
        executor=record.get("executor", "local"),
    )


# --------------------------------------------------------------------------- the worker


class _Cancelled(Exception):
    """A cancel record was found between batches."""


def run_variants_job(
    store_url: str,
    job_id: str,
    *,
    shard: int | None = None,
    retry_seconds: float = float(DEFAULT_STORE_RETRY_SECONDS),
) -> None:
    """Score the job's missing shards (or only ``shard``, a pod's index); merge once all are stored.

    Outcomes are recorded as for every job (:mod:`services.trainer.worker`).

    Raises
    ------
    UnavailableError
        The store stayed unreachable; stored shards are kept for the next run.
    """
    from services.trainer.attribution_worker import claim_job
    from services.trainer.worker import JobAbandoned, _error_message, _write_final, open_job

    opened = open_job(store_url, job_id, retry_seconds)
    if opened is None:
        return
    store, record = opened
    spec = record["variants"]
    if shard is not None and not 0 <= shard < int(spec["shards"]):
        raise InvalidInputError(f"index: job {job_id} has shards 0..{int(spec['shards']) - 1}, got {shard}")
    record = claim_job(store, record, claim=shard is None)
    try:
        indexes = range(int(spec["shards"])) if shard is None else [shard]
        missing = [i for i in indexes if i not in stored_shards(store, record)]
        if missing:
            _score_shards(store, record, missing)
        if len(stored_shards(store, record)) == int(spec["shards"]):
            _merge(store, record)
            spec.update(shards_done=int(spec["shards"]), variants_id=variants_id_for(job_id))
            _write_final(store, record, "SUCCEEDED", error="")
            _delete_shards(store, record)
    except _Cancelled:
        _write_final(store, record, "CANCELLED", error="cancelled by request")
        _delete_shards(store, record)
    except JobAbandoned as exc:
        logger.warning("job %s: abandoned: %s", job_id, exc)
    except UnavailableError:
        logger.exception("job %s: the store is unreachable; leaving the job to be resumed", job_id)
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
        logger.exception("job %s failed", job_id)
        _write_final(store, record, "FAILED", error=_error_message(exc))
        _delete_shards(store, record)


def cancel_requested(store: ArtifactStore, job_id: str) -> bool:
    """Whether cancellation of the job was requested (see :mod:`services.trainer.worker`)."""
    from services.trainer.worker import cancel_requested as requested

    return requested(store, job_id)


def _score_shards(store: ArtifactStore, record: dict, missing: list[int]) -> None:
    """Score and store every shard of ``missing`` (the genome fetched and indexed once)."""
    from motiflens.genome import Genome
    from motiflens.variants import model_predictor, variant_effects, variant_windows
    from services.common.variant_messages import SummaryCounter, batch_message
    from services.trainer.attribution_worker import _load_model
    from services.trainer.worker import _announce, _check_still_ours

    spec = record["variants"]
    job_id = record["job_id"]
    variants = read_alleles(store, spec["vcf_upload_id"])
    predict = model_predictor(_load_model(store, spec["model_id"]), spec["output"])
    size = int(spec["shard_size"])
    with tempfile.TemporaryDirectory(prefix="motiflens-genome-") as folder:
        with fetch_upload(store, spec["genome_upload_id"], "genome_upload_id") as (path, name):
            local = Path(folder) / name
            path.replace(local)
        with Genome.open(local, index_dir=folder, field="genome_upload_id") as genome:
            for index in missing:
                first, last = index * size, min(len(variants), (index + 1) * size)
                shard = pb.VariantBatch()
                counter = SummaryCounter()
                for start in range(first, last, BATCH):
                    if cancel_requested(store, job_id):
                        raise _Cancelled
                    if record.get("worker"):  # a local worker's job; pods do not claim it
                        _check_still_ours(store, record)
                    windows = variant_windows(
                        genome, variants[start : min(last, start + BATCH)], int(spec["input_length"])
                    )
                    effects = variant_effects(
                        predict,
                        windows,
                        output=spec["output"],
                        both_strands=bool(spec["both_strands"]),
                        sigmoid=spec.get("output_activation") == "sigmoid",
                    )
                    counter.add(windows)
                    shard.variants.extend(batch_message(windows, effects).variants)
                try:
                    store.put_artifact(
                        SHARD_KIND,
                        {"scores.pb": shard.SerializeToString()},
                        artifact_id=attribution_jobs.shard_id(job_id, index),
                        metadata={
                            "job_id": job_id,
                            "shard": index,
                            "counts": counter.to_dict(),
                            "worker": f"{socket.gethostname()}:{os.getpid()}",
                        },
                    )
                except AlreadyExistsError:  # another pod of the same index got there first
                    pass
                _announce(job_id)


def _merge(store: ArtifactStore, record: dict) -> None:
    """The shards, in order, as the job's "variants" artifact (kept if an earlier merge stored it)."""
    from services.common.variant_messages import SummaryCounter

    spec = record["variants"]
    job_id = record["job_id"]
    artifact_id = variants_id_for(job_id)
    try:
        store.get_manifest(artifact_id, kind=VARIANTS_KIND)
        return
    except NotFoundError:
        pass
    counter = SummaryCounter()
    with tempfile.TemporaryDirectory(prefix="motiflens-variants-") as folder:
        scores = Path(folder) / "scores.pb"
        with scores.open("wb") as out:
            for index in range(int(spec["shards"])):
                shard_id = attribution_jobs.shard_id(job_id, index)
                counter.add_counts(store.get_manifest(shard_id, kind=SHARD_KIND).metadata["counts"])
                data = store.read_object(shard_id, "scores.pb")
                out.write(_LENGTH.pack(len(data)))
                out.write(data)
        summary = counter.message(
            records=int(spec["records"]),
            alleles=int(spec["alleles"]),
            output=spec["output"],
            both_strands=bool(spec["both_strands"]),
            map_start=0,
            input_length=int(spec["input_length"]),
        )
        provenance = {
            k: spec[k] for k in ("model_id", "vcf_upload_id", "genome_upload_id", "output", "both_strands")
        }
        try:
            store.put_artifact(
                VARIANTS_KIND,
                {"scores.pb": scores, "summary.pb": summary.SerializeToString()},
                artifact_id=artifact_id,
                metadata={
                    **provenance,
                    "job_id": job_id,
                    "name": spec.get("name", ""),
                    "alleles": spec["alleles"],
                },
                provenance={**provenance, "job_id": job_id},
            )
        except AlreadyExistsError:  # two pods merged at once
            pass


def _delete_shards(store: ArtifactStore, record: dict) -> None:
    """Delete the stored shards of a finished job (best effort: a leftover only costs space)."""
    for index in range(int(record["variants"]["shards"])):
        try:
            store.delete_artifact(attribution_jobs.shard_id(record["job_id"], index), kind=SHARD_KIND)
        except NotFoundError:
            continue
        except Exception:  # noqa: BLE001
            logger.warning("job %s: could not delete shard %d", record["job_id"], index, exc_info=True)


#: Alleles per ReadVariantScores message.
READ_BATCH = 2048


def read_scores(
    store: ArtifactStore, request: pb.ReadVariantScoresRequest, is_active: Callable[[], bool]
) -> Iterator[pb.ScoreVariantsEvent]:
    """ReadVariantScores: the stored batches (re-cut to :data:`READ_BATCH` alleles), then the summary."""
    artifact_id = check_id(request.variants_id, field_name="variants_id", prefix=VARIANTS_PREFIX)
    try:
        store.get_manifest(artifact_id, kind=VARIANTS_KIND)
    except NotFoundError:
        raise NotFoundError(f"variants_id: no variants artifact {artifact_id!r}") from None
    from services.common.datasets import disk_errors, scratch_directory

    with scratch_directory() as tmp:
        with disk_errors("variants_id"):
            store.fetch_artifact(artifact_id, Path(tmp))
        with (Path(tmp) / "scores.pb").open("rb") as scores:  # one shard in memory at a time
            while header := scores.read(_LENGTH.size):
                (size,) = _LENGTH.unpack(header)
                shard = pb.VariantBatch.FromString(scores.read(size))
                for start in range(0, len(shard.variants), READ_BATCH):
                    if not is_active():
                        return
                    batch = pb.VariantBatch(variants=shard.variants[start : start + READ_BATCH])
                    yield pb.ScoreVariantsEvent(batch=batch)
    summary = pb.VariantSummary.FromString(store.read_object(artifact_id, "summary.pb"))
    yield pb.ScoreVariantsEvent(summary=summary)
