"""Attribution jobs: every row of a stored split attributed, shard by shard, into one artifact.

``AttributeSplit`` checks the whole request in the RPC thread (model, data set, split
rows, method settings through :mod:`services.common.attribution_options`, format,
shard size) and writes an ordinary job record (``jobs/<id>``, ``kind`` "attribution",
its settings under ``attribution``), so GetJob, WatchJob, CancelJob, ListJobs, the
restart and adoption rules of :mod:`services.trainer.jobs` apply unchanged.

Work is cut into shards of ``shard_size`` rows. Each shard is computed in blocks of
``chunk_size`` sequences, streamed into a file (:class:`motiflens.attribution.files.MapFileWriter`)
and stored as an ``attribution_shard`` artifact whose id is derived from the job id
and shard index, so a resumed or retried run skips the shards already stored and an
interrupted one loses at most one shard's work. Once every shard is stored, the
shards are streamed, in order, into the final ``attributions`` artifact (id
``attr-<the job's hex>``: ``ohe.npz`` + ``shap.npz`` or ``attributions.h5``, see
:mod:`motiflens.attribution.files`) with its provenance; the job becomes SUCCEEDED
naming it, and the shards are deleted.

Executors (those of sweeps): out of a cluster the trainer's worker processes run the
shards of a job one after another (:func:`services.trainer.attribution_worker.run_attribution_job`);
with the kubernetes executor the job is one Indexed Job, one pod per shard running
``python -m services.trainer.worker --attribution-job <job id>``, and whichever pod
finds every shard stored merges them. GetJob reconciles a Kubernetes job with its
Job's status (shards Kubernetes gave up on make the job FAILED).

Integrated gradients and DeepSHAP draw their references by row index within the job,
so sharding never changes a result: the artifact equals one ``Attribute`` call on the
same rows with the same settings.

Memory of a worker: the data set (as for training) plus one block's passes and maps
(``chunk_size`` x L x 4 float32 x :data:`MAPS_PER_BLOCK`), whatever N; the files are
written to local disk and streamed to the store.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from motiflens_client.wire import pb
from motiflens_client.wire.errors import WireError
from motiflens_client.wire.vocabulary import ATTRIBUTION_FORMAT_BY_NAME, split_name

from motiflens.errors import InvalidInputError, MotiflensError, NotFoundError, ResourceExhaustedError
from motiflens.sequences import FastaRecords, read_fasta
from services.common.attribution_options import (
    ModelOutputs,
    attribution_options,
    attribution_settings,
    check_range,
)
from services.common.attributions import (
    ATTRIBUTIONS_PREFIX,
    fetched_maps,
    get_attributions,
    map_shape,
)
from services.common.convert import array_to_tensor
from services.common.datasets import get_dataset_info
from services.common.errors import from_wire, invalid
from services.common.labels import check_labels
from services.common.limits import check_name
from services.common.store import ArtifactStore, check_id, utc_now
from services.trainer import kube
from services.trainer.worker import JOBS_NAMESPACE, TERMINAL

if TYPE_CHECKING:  # the managers import this module
    from services.trainer.jobs import JobManager
    from services.trainer.sweeps import SweepManager

logger = logging.getLogger(__name__)


KIND = "attribution"
SHARD_KIND = "attribution_shard"
SHARD_PREFIX = "ashard"
#: The shard's one file (always HDF5: row ranges are read back cheaply).
SHARD_FILE_FORMAT = "hdf5"
DEFAULT_SHARD_SIZE = 1000
MAX_SHARD_SIZE = 100_000
MAX_SHARDS = 1024
DEFAULT_CHUNK = 64
MAX_CHUNK = 1024
#: (chunk, L, 4) float32 arrays one block holds at once: input, scores, hypothetical,
#: projected and the two channels-first copies written to the file.
MAPS_PER_BLOCK = 6
#: Bytes one block's maps may hold.
MAX_BLOCK_BYTES = 512 * 1024 * 1024
#: Wire value -> format name (unset: "npz").
FORMATS = {pb.ATTRIBUTION_FILE_FORMAT_UNSPECIFIED: "npz"} | {
    v: k for k, v in ATTRIBUTION_FORMAT_BY_NAME.items()
}


def shard_id(job_id: str, index: int) -> str:
    """The id of shard ``index`` of ``job_id`` (``ashard-`` and 32 hex digits derived from both)."""
    return f"{SHARD_PREFIX}-{hashlib.sha256(f'{job_id}/{index}'.encode()).hexdigest()[:32]}"


def attributions_id_for(job_id: str) -> str:
    """The id of the job's final artifact: ``attr-`` and the job's hex digits."""
    return f"{ATTRIBUTIONS_PREFIX}-{job_id.split('-', 1)[1]}"


def shard_rows(spec: Mapping, index: int) -> tuple[int, int]:
    """Rows [start, stop) of shard ``index``, counted from the job's first row."""
    size = int(spec["shard_size"])
    return index * size, min(int(spec["num_sequences"]), (index + 1) * size)


def prepare(store: ArtifactStore, request: pb.AttributeSplitRequest) -> dict:
    """Check an AttributeSplit request; return the job's ``attribution`` settings (nothing is written).

    Raises
    ------
    InvalidInputError
        Naming the field: no attribution, sequences other than a stored split, a bad
        method setting (``attribution.target`` ...), form/times_input/include_hypothetical
        set, rows out of range, a model whose input length differs from the data set's,
        shard size or chunk size out of range, too many shards, a bad name or labels.
    NotFoundError
        Unknown model or data set.
    ResourceExhaustedError
        One block's maps would exceed :data:`MAX_BLOCK_BYTES` (lower ``chunk_size``).
    """
    if not request.HasField("attribution"):
        raise invalid("attribution", "required: the model, method and stored split to attribute")
    attribution = request.attribution
    check_name(request.name, "name")
    labels = check_labels(request.labels)
    source = attribution.sequences.WhichOneof("source")
    if request.fasta_upload_id and source is not None:
        raise invalid(
            "attribution.sequences", "leave unset with fasta_upload_id (the upload holds the sequences)"
        )
    if not request.fasta_upload_id and source != "dataset_split":
        raise invalid(
            "attribution.sequences",
            "a job attributes rows of a stored data set (dataset_split) or an uploaded FASTA "
            "(fasta_upload_id); send inline sequences to InterpreterService.Attribute",
        )
    for field_name in ("form", "include_hypothetical", "times_input"):
        if getattr(attribution, field_name):
            raise invalid(
                f"attribution.{field_name}",
                "not used by a job: its artifact holds the one-hot and hypothetical maps "
                "(the projected map, and gradient x input, is their product); leave it unset",
            )
    model_id = check_id(attribution.model_id, field_name="attribution.model_id", prefix=None)
    try:
        manifest = store.get_manifest(model_id, kind="model")
    except NotFoundError:
        raise NotFoundError(f"attribution.model_id: no model {model_id!r}") from None
    outputs = ModelOutputs.from_metadata(model_id, manifest.metadata)
    try:
        method, options = attribution_options(attribution, outputs)
    except InvalidInputError as exc:
        field = f"attribution.{exc.field}" if exc.field else "attribution"
        raise InvalidInputError(f"attribution.{exc}", field=field) from None
    input_length = int(manifest.metadata.get("input_length", 0))
    if request.fasta_upload_id:
        records = read_fasta_upload(store, request.fasta_upload_id)
        wrong = [i for i, sequence in enumerate(records.sequences) if len(sequence) != input_length]
        if wrong:
            raise invalid(
                "fasta_upload_id",
                f"{len(wrong)} record(s) are not {input_length} nt, model {model_id}'s input length; "
                f"the first is {records.names[wrong[0]]!r} ({len(records.sequences[wrong[0]])} nt)",
            )
        where = {"dataset_id": "", "split": "", "offset": 0, "fasta_upload_id": request.fasta_upload_id}
        num_sequences = len(records.sequences)
    else:
        ref = attribution.sequences.dataset_split
        try:
            split = split_name(ref.split, field="attribution.sequences.dataset_split.split")
        except WireError as exc:
            raise from_wire(exc) from None
        info = get_dataset_info(
            store, ref.dataset_id, field_name="attribution.sequences.dataset_split.dataset_id"
        )
        rows = {"train": info.num_train, "valid": info.num_valid, "test": info.num_test}[split]
        path = "attribution.sequences.dataset_split"
        if ref.offset < 0 or ref.limit < 0:
            raise invalid(path, f"expected offset >= 0 and limit >= 0, got {ref.offset} and {ref.limit}")
        if ref.offset >= rows:
            raise invalid(
                f"{path}.offset", f"the {split} split of {ref.dataset_id} has {rows} rows, got {ref.offset}"
            )
        num_sequences = min(rows - ref.offset, ref.limit or rows)
        if input_length != info.sequence_length:
            raise invalid(
                "attribution.model_id",
                f"model {model_id} takes sequences of {input_length} nt, data set {ref.dataset_id} holds "
                f"{info.sequence_length} nt",
            )
        where = {
            "dataset_id": ref.dataset_id,
            "split": split,
            "offset": int(ref.offset),
            "fasta_upload_id": "",
        }
    chunk = check_range(
        attribution.chunk_size, "attribution.chunk_size", 1, MAX_CHUNK, zero=str(DEFAULT_CHUNK)
    )
    chunk = chunk or DEFAULT_CHUNK
    block_bytes = MAPS_PER_BLOCK * chunk * input_length * 4 * 4
    if block_bytes > MAX_BLOCK_BYTES:
        raise ResourceExhaustedError(
            f"attribution.chunk_size: {chunk} sequences of {input_length} nt need {block_bytes >> 20} MiB "
            f"per block, more than {MAX_BLOCK_BYTES >> 20} MiB; use at most "
            f"{MAX_BLOCK_BYTES // (MAPS_PER_BLOCK * input_length * 16)}",
            field="attribution.chunk_size",
        )
    shard_size = (
        check_range(request.shard_size, "shard_size", 1, MAX_SHARD_SIZE, zero=str(DEFAULT_SHARD_SIZE))
        or DEFAULT_SHARD_SIZE
    )
    shards = math.ceil(num_sequences / shard_size)
    if shards > MAX_SHARDS:
        raise invalid(
            "shard_size",
            f"{num_sequences} rows in shards of {shard_size} make {shards} shards, more than {MAX_SHARDS}; "
            f"use a shard_size of at least {math.ceil(num_sequences / MAX_SHARDS)}",
        )
    if request.format not in FORMATS:
        accepted = ", ".join(pb.AttributionFileFormat.Name(v) for v in ATTRIBUTION_FORMAT_BY_NAME.values())
        raise invalid("format", f"expected one of {accepted}; got {request.format}")
    return {
        "model_id": model_id,
        **where,
        "num_sequences": int(num_sequences),
        "input_length": input_length,
        "method": method,
        "options": options,
        "chunk_size": chunk,
        "shard_size": shard_size,
        "shards": shards,
        "format": FORMATS[request.format],
        "name": request.name,
        "labels": labels,
        "shards_done": 0,
        "sequences_done": 0,
        "attributions_id": "",
    }


#: Largest FASTA text (after gunzip) an attribution job reads; bounds the job's memory for strings.
MAX_FASTA_BYTES = 1 << 30


def read_fasta_upload(
    store: ArtifactStore, upload_id: str, *, field: str = "fasta_upload_id"
) -> FastaRecords:
    """The records of an uploaded FASTA file (plain or gzip, at most :data:`MAX_FASTA_BYTES` of text).

    Raises
    ------
    InvalidInputError
        Malformed id; not FASTA (the line is named); not gzip although it starts like it.
    NotFoundError
        No such upload.
    ResourceExhaustedError
        More than :data:`MAX_FASTA_BYTES` of text (a gzip file is measured unpacked).
    """
    from services.trainer.uploads import fetch_upload

    with fetch_upload(store, upload_id, field) as (path, name):
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        try:
            opener = gzip.open(path, "rb") if gzipped else path.open("rb")
            with opener as handle:
                data = handle.read(MAX_FASTA_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise invalid(field, f"upload {upload_id} ({name}) is not readable gzip: {exc}") from None
    if len(data) > MAX_FASTA_BYTES:
        raise ResourceExhaustedError(
            f"{field}: upload {upload_id} holds more than {MAX_FASTA_BYTES >> 20} MiB of FASTA text; "
            "split it into several jobs",
            field=field,
        )
    try:
        return read_fasta(io.StringIO(data.decode("ascii", errors="replace")))
    except InvalidInputError as exc:
        raise InvalidInputError(f"{field}: upload {upload_id} ({name}): {exc}", field=field) from None


def new_record(job_id: str, spec: Mapping, *, owner: str, executor: str) -> dict:
    """A PENDING job record of kind "attribution" (fields of :mod:`services.trainer.jobs`)."""
    return {
        "job_id": job_id,
        "kind": KIND,
        "state": "PENDING",
        "dataset_id": spec["dataset_id"],
        "name": spec["name"],
        "attribution": {**spec, "executor": executor},
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
        "labels": dict(spec["labels"]),
    }


def is_attribution(record: Mapping) -> bool:
    """Whether a job record is an attribution job's."""
    return record.get("kind") == KIND


def stored_shards(store: ArtifactStore, record: Mapping, known: set[int] | None = None) -> set[int]:
    """Indexes of the shards of an unfinished attribution job stored so far (:func:`stored_shard_indexes`)."""
    return stored_shard_indexes(
        store, record["job_id"], int(record["attribution"]["shards"]), SHARD_KIND, known
    )


def stored_shard_indexes(
    store: ArtifactStore, job_id: str, shards: int, kind: str, known: set[int] | None = None
) -> set[int]:
    """Indexes of a sharded job's shards (artifacts of ``kind``) stored so far.

    ``known`` (indexes seen before; shards are immutable until the merge deletes them)
    is updated and skipped, so a caller polling a job reads each shard's manifest once.
    """
    done = set(known or ())
    for index in range(shards):
        if index in done:
            continue
        try:
            store.get_manifest(shard_id(job_id, index), kind=kind)
        except NotFoundError:
            continue
        done.add(index)
    if known is not None:
        known |= done
    return done


def progress(store: ArtifactStore, record: Mapping, known: set[int] | None = None) -> tuple[int, int]:
    """(shards done, sequences done) of an attribution job: the record's once it is finished."""
    spec = record["attribution"]
    if record.get("state", "") in TERMINAL or spec.get("attributions_id"):
        return int(spec.get("shards_done", 0)), int(spec.get("sequences_done", 0))
    done = stored_shards(store, record, known)
    return len(done), sum(b - a for a, b in (shard_rows(spec, i) for i in done))


def progress_events(record: Mapping, shards_done: int) -> list[dict]:
    """WatchJob's events of an attribution job (:func:`shard_progress_events`)."""
    spec = record["attribution"]
    return shard_progress_events(
        shards_done, int(spec["shards"]), int(spec["shard_size"]), int(spec["num_sequences"])
    )


def shard_progress_events(shards_done: int, shards: int, size: int, total: int) -> list[dict]:
    """WatchJob's events of a sharded job: one per finished shard, in the order of their count.

    ``size`` rows per shard, ``total`` rows in all (sequences, or a VCF's alleles).
    """
    return [
        {
            "kind": "progress",
            "shards_done": k,
            "shards": shards,
            "sequences_done": min(total, k * size),
            "num_sequences": total,
        }
        for k in range(1, shards_done + 1)
    ]


def job_message(record: Mapping, shards_done: int, sequences_done: int) -> pb.AttributionJob:
    """The AttributionJob part of a Job message."""
    spec = record["attribution"]
    return pb.AttributionJob(
        model_id=spec["model_id"],
        settings=attribution_settings(spec["method"], spec["options"]),
        split=pb.Split.Value(f"SPLIT_{spec['split'].upper()}") if spec["split"] else pb.SPLIT_UNSPECIFIED,
        fasta_upload_id=spec.get("fasta_upload_id", ""),
        offset=spec["offset"],
        num_sequences=spec["num_sequences"],
        shard_size=spec["shard_size"],
        shards=spec["shards"],
        shards_done=shards_done,
        sequences_done=sequences_done,
        format=ATTRIBUTION_FORMAT_BY_NAME[spec["format"]],  # type: ignore[arg-type]  # an AttributionFileFormat value
        attributions_id=spec.get("attributions_id", ""),
        executor=record.get("executor", "local"),
    )


def launch(jobs: JobManager, sweeps: SweepManager, spec: Mapping, *, parallelism: int = 0) -> dict:
    """Start a prepared attribution job with the trainer's executor (:func:`launch_sharded`); its record."""
    return launch_sharded(
        jobs,
        sweeps,
        lambda job_id, owner, executor: new_record(job_id, spec, owner=owner, executor=executor),
        shards=int(spec["shards"]),
        flag="--attribution-job",
        component="attribution",
        parallelism=parallelism,
    )


def launch_sharded(
    jobs: JobManager,
    sweeps: SweepManager,
    make_record: Callable[[str, str, str], dict],
    *,
    shards: int,
    flag: str,
    component: str,
    parallelism: int = 0,
) -> dict:
    """Start a sharded job (attribution, variants) with the trainer's executor; return its record.

    ``make_record(job_id, owner, executor)`` builds the PENDING record. Local executor:
    queued on the job manager. Kubernetes: recorded, then one Indexed Job named after
    the job, a pod per shard running ``python -m services.trainer.worker <flag> <job id>``
    (at most ``parallelism``, 0 = the sweep default, at once).

    Raises
    ------
    InvalidInputError
        ``parallelism`` out of range.
    ResourceExhaustedError, UnavailableError
        The queue is full, the trainer is closing, or the API server is unreachable.
    FailedPreconditionError
        Kubernetes refused the Job (the job is then FAILED with the cause).
    """
    from services.trainer.sweeps import MAX_PARALLELISM

    check_range(parallelism, "parallelism", 1, MAX_PARALLELISM, zero="the server default")
    if sweeps.settings.executor != "kubernetes":
        return jobs.submit_job(lambda job_id: make_record(job_id, jobs.manager_id, "local"))
    cluster = sweeps.kubernetes()
    record = jobs.record_kubernetes_job(lambda job_id: make_record(job_id, "", "kubernetes"))
    manifest = kube.indexed_job_manifest(
        kubernetes_job_name(record["job_id"]),
        args=(flag, record["job_id"]),
        completions=shards,
        parallelism=min(parallelism or sweeps.settings.parallelism, shards),
        namespace=cluster.namespace,
        image=sweeps.settings.image,
        component=component,
        labels={kube.ATTRIBUTION_JOB_LABEL: record["job_id"]},
        resources=sweeps.resources,
    )
    try:
        cluster.create_job(manifest)
    except MotiflensError as exc:
        jobs.fail_if_unfinished(record["job_id"], f"could not create the Kubernetes Job: {exc}")
        raise
    logger.info("job %s: Kubernetes Job of %d shard(s) created", record["job_id"], shards)
    return record


def kubernetes_job_name(job_id: str) -> str:
    """The Indexed Job of a sharded job: its id ("job-<32 hex>", a valid DNS label)."""
    return job_id


def reconcile(store: ArtifactStore, record: dict, cluster: kube.KubernetesJobs) -> dict:
    """Mark an unfinished Kubernetes attribution job FAILED when its Job will not finish it.

    Returns the record as it is afterwards.
    """
    if record["state"] in TERMINAL or record.get("executor") != "kubernetes":
        return record
    name = kubernetes_job_name(record["job_id"])
    try:
        status = cluster.job_status(name)
    except MotiflensError:
        logger.warning("job %s: could not read its Kubernetes Job", record["job_id"], exc_info=True)
        return record
    where = f"kubectl -n {cluster.namespace} logs job/{name}"
    reason = ""
    if status is None:
        reason = f"the Kubernetes Job {cluster.namespace}/{name} no longer exists (deleted?)"
    else:
        failed = sorted(kube.failed_indexes(status))
        if failed:
            reason = (
                f"the pods of shard(s) {', '.join(map(str, failed))} failed "
                f"{kube.BACKOFF_LIMIT_PER_INDEX + 1} times; see {where}"
            )
        elif kube.finished_condition(status):
            reason = (
                f"the Kubernetes Job is {kube.finished_condition(status)} but no pod recorded "
                f"an outcome; see {where}"
            )
    if not reason:
        return record
    current = store.get_record(JOBS_NAMESPACE, record["job_id"])
    if current["state"] in TERMINAL:
        return current
    current.update(state="FAILED", error=reason, finished_at=utc_now())
    store.put_record(JOBS_NAMESPACE, record["job_id"], current)
    return current


#: Upper bound on the arrays of one AttributionRows message.
ROWS_MESSAGE_BYTES = 4 * 1024 * 1024


def read_rows(
    store: ArtifactStore, request: pb.ReadAttributionsRequest, is_active: Callable[[], bool]
) -> Iterator[pb.AttributionRows]:
    """The AttributionRows messages answering ReadAttributions, read one block at a time.

    The artifact's files are fetched to local scratch space first (streamed), then
    only the requested rows are read, a message's worth at a time.

    Raises
    ------
    InvalidInputError
        Malformed id, negative numbers, an offset past the end, a bad chunk size.
    NotFoundError
        Unknown artifact (or not an attributions artifact).
    """
    from motiflens.attribution.files import read_map_rows

    manifest = get_attributions(store, request.attributions_id)
    artifact_id = manifest.artifact_id
    n, length = map_shape(manifest)
    if request.offset < 0 or request.limit < 0:
        raise invalid(
            "offset", f"expected offset >= 0 and limit >= 0, got {request.offset} and {request.limit}"
        )
    if request.offset >= n:
        raise invalid("offset", f"artifact {artifact_id} has {n} rows, got offset {request.offset}")
    stop = min(n, request.offset + request.limit) if request.limit else n
    fitting = max(1, ROWS_MESSAGE_BYTES // (2 * length * 16))
    rows = check_range(request.chunk_size, "chunk_size", 1, 1_000_000, zero="as many as fit in 4 MiB")
    rows = min(rows, fitting) if rows else fitting
    provenance = json.dumps(manifest.provenance, sort_keys=True)
    with fetched_maps(store, manifest) as tmp:
        for start in range(int(request.offset), stop, rows):
            if not is_active():
                return
            one_hot, hypothetical = read_map_rows(
                tmp, manifest.metadata["format"], start, min(stop, start + rows)
            )
            yield pb.AttributionRows(
                offset=start,
                one_hot=array_to_tensor(one_hot),
                hypothetical=array_to_tensor(hypothetical),
                provenance_json=provenance if start == request.offset else "",
            )
