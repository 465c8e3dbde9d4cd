"""TrainerService: proto -> core types -> data set / job calls -> proto.

Validation and state live in :mod:`services.trainer.datasets` (the read side in
:mod:`services.common.datasets`) and :mod:`services.trainer.jobs`; this module only
translates messages (stored records → messages in :mod:`services.trainer.messages`).
Errors are core exceptions, mapped to status codes by the server's
error interceptor:

============== =====================================================================
RPC            codes besides OK
============== =====================================================================
CreateDataset  INVALID_ARGUMENT (no source, unset/unknown task, bad numbers, malformed
               HDF5, bad FASTA base with its line, labels of the wrong shape; for
               intervals: a malformed BED with its line, a contig missing from the
               genome, a window longer than a chromosome, a plain-gzip or corrupt
               genome, an empty split), NOT_FOUND (unknown upload), RESOURCE_EXHAUSTED
               (generated or imported arrays over the size or memory limits)
GetDataset     INVALID_ARGUMENT (malformed id), NOT_FOUND (unknown id)
ListDatasets   none
Train          INVALID_ARGUMENT (malformed id, unknown architecture/activation/initializer,
               bad parameters, sequences too short for the architecture), NOT_FOUND
               (unknown data set), RESOURCE_EXHAUSTED (queue full), UNAVAILABLE
               (shutting down)
GetJob         INVALID_ARGUMENT (malformed id), NOT_FOUND (unknown id)
WatchJob       as GetJob, before the first event; later UNAVAILABLE (store unreachable,
               shutting down), RESOURCE_EXHAUSTED (MOTIFLENS_MAX_WATCHERS streams open)
CancelJob      as GetJob
AttributeSplit INVALID_ARGUMENT (no attribution, inline sequences, a bad method setting
               named attribution.<field>, form/times_input set, rows or shard size out of
               range, more than 1024 shards, model and data set of different lengths),
               NOT_FOUND (unknown model or data set), RESOURCE_EXHAUSTED (queue full, a
               chunk's maps over 512 MiB), UNAVAILABLE (shutting down, no API server),
               FAILED_PRECONDITION (Kubernetes refused the Job)
DiscoverMotifsJob as DiscoverMotifs on a stored artifact (INVALID_ARGUMENT without
               attributions_id), RESOURCE_EXHAUSTED (queue full, over
               MOTIFLENS_DISCOVERY_MEMORY_MB)
ScoreVariantsJob INVALID_ARGUMENT (bad output or shard size, a malformed VCF naming the record,
               more than 1024 shards), NOT_FOUND (unknown model or upload), RESOURCE_EXHAUSTED
               (queue full)
ReadVariantScores INVALID_ARGUMENT / NOT_FOUND (malformed / unknown id)
ReadAttributions INVALID_ARGUMENT (malformed id, offset past the end), NOT_FOUND (unknown id)
ListJobs       none
ListModels     INVALID_ARGUMENT / NOT_FOUND for a malformed / unknown data set filter
Sweep          INVALID_ARGUMENT (empty or repeated axis, axis set in base_model, anything
               Train rejects, bad parallelism), NOT_FOUND (unknown data set),
               RESOURCE_EXHAUSTED (grid over MOTIFLENS_SWEEP_MAX_CONFIGS),
               FAILED_PRECONDITION (gpu without a GPU image; Kubernetes refused the Job
               or no in-cluster configuration), UNAVAILABLE (API server unreachable,
               shutting down)
GetSweep       INVALID_ARGUMENT (malformed id), NOT_FOUND (unknown id)
ListSweeps     none
CancelSweep    as GetSweep
ImportModel    INVALID_ARGUMENT (not a .keras archive, a Lambda or custom class, weights
               linking to another file, an input other than (None, L, 4), an output other
               than (None, T), a failing forward pass), NOT_FOUND (unknown upload),
               RESOURCE_EXHAUSTED (archive, parameters, memory or time over the limits,
               another import running)
ExportModel    INVALID_ARGUMENT (malformed id, bad name/version), NOT_FOUND (unknown model),
               RESOURCE_EXHAUSTED (as ImportModel)
Upload         INVALID_ARGUMENT (no header first, bad name/size/sha256, a chunk over
               4 MiB, bytes that do not add up to the header), RESOURCE_EXHAUSTED (over
               MOTIFLENS_MAX_UPLOAD_MB, disk full), CANCELLED (the caller left)
ListUploads    none
============== =====================================================================

(Any call may also be UNAVAILABLE when the artifact store cannot be reached.)
"""

from __future__ import annotations

import contextlib
import json
import math
import threading

import grpc
import numpy as np
from motiflens_client.wire import WireError, pb, vocabulary
from motiflens_client.wire.pb import trainer_pb2, trainer_pb2_grpc

from motiflens.errors import FailedPreconditionError, InvalidInputError, ResourceExhaustedError
from services.common import labels, pages
from services.common.budget import MemoryBudget
from services.common.config import (
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_MEMORY_BUDGET_MB,
    DiscoveryLimits,
    ModelFileSettings,
)
from services.common.convert import tensor_to_array
from services.common.datasets import (
    DATASET_KIND,
    forget_dataset,
    get_dataset_info,
    list_datasets,
    scratch_directory,
)
from services.common.errors import from_wire
from services.common.limits import check_count, check_name
from services.common.server import (
    SendResponse,
    caller_gone,
    end_stream_with_error,
    watch_handler,
    when_call_ends,
)
from services.common.store import ArtifactStore, Manifest, check_id
from services.trainer import (
    attribution_jobs,
    datasets,
    intervals,
    model_files,
    motifs_jobs,
    uploads,
    variants_jobs,
)
from services.trainer.jobs import JobManager, is_terminal, list_models, read_job
from services.trainer.messages import (
    dataset_to_proto,
    epoch_to_proto,
    job_to_proto,
    model_info_to_proto,
    state_name,
    sweep_to_proto,
)
from services.trainer.split_rows import split_chunks
from services.trainer.sweeps import SweepManager, SweepRequest

SERVICE_NAME = "motiflens.v1.TrainerService"
RESULT_KIND = "result"
RESULT_OBJECT = "result.json"
MAX_RESULT_BYTES = 16 * 1024 * 1024

#: SyntheticTask enum value -> generator name.
SYNTHETIC_TASKS = {value: f"task{number}" for number, value in vocabulary.TASK_BY_NUMBER.items()}


class TrainerServicer(trainer_pb2_grpc.TrainerServiceServicer):
    """The TrainerService RPCs.

    Parameters
    ----------
    store : ArtifactStore
        Data sets and models.
    jobs : JobManager
        Training jobs (it shares the store).
    sweeps : SweepManager, optional
        Sweeps (default: the local executor on ``jobs``).
    budget : MemoryBudget, optional
        Memory that data set imports and generations reserve before they allocate
        (default: the trainer's default ``MOTIFLENS_MEMORY_BUDGET_MB``).
    max_upload_bytes : int, optional
        Largest Upload (default ``MOTIFLENS_MAX_UPLOAD_MB``'s default, 16 GiB).
    model_files : ModelFileSettings, optional
        Limits of the ImportModel/ExportModel child process.
    discovery_limits : DiscoveryLimits, optional
        Memory and time of a DiscoverMotifsJob's TF-MoDISco child (checked when it is accepted).
    """

    def __init__(
        self,
        store: ArtifactStore,
        jobs: JobManager,
        sweeps: SweepManager | None = None,
        *,
        budget: MemoryBudget | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1024 * 1024,
        model_files: ModelFileSettings | None = None,
        discovery_limits: DiscoveryLimits | None = None,
    ) -> None:
        self.discovery_limits = discovery_limits or DiscoveryLimits()
        self.max_upload_bytes = max_upload_bytes
        self.model_files = model_files or ModelFileSettings()
        # One import/export child at a time: each may use MOTIFLENS_IMPORT_MEMORY_MB.
        self._model_file_slot = threading.BoundedSemaphore(1)
        self.store = store
        self.jobs = jobs
        self.sweeps = sweeps or SweepManager(jobs)
        self.budget = budget or MemoryBudget(DEFAULT_MEMORY_BUDGET_MB["trainer"] * 1024 * 1024)

    def register(self, server: grpc.Server) -> None:
        """Add this servicer to ``server`` (the ``register`` argument of create_server/serve)."""
        trainer_pb2_grpc.add_TrainerServiceServicer_to_server(self, server)

    # ---- data sets
    def CreateDataset(self, request, context):  # noqa: N802 - gRPC method name
        """Generate or import a data set (labels, when given, are set once it is stored)."""
        given = labels.check_labels(request.labels)
        response = self._create_dataset(request, context)
        if given:
            labels.set_labels(self.store, response.dataset.dataset_id, given)
            response.dataset.labels.update(given)
        return response

    def _create_dataset(self, request, context) -> pb.CreateDatasetResponse:
        check_name(request.name, "name")
        source = request.WhichOneof("source")
        if source == "synthetic":
            spec = request.synthetic
            if spec.task not in SYNTHETIC_TASKS:
                raise InvalidInputError(
                    "synthetic.task: expected SYNTHETIC_TASK_1 or SYNTHETIC_TASK_3, "
                    f"got {_enum_name(spec.task)}"
                )
            info = datasets.create_synthetic(
                self.store,
                SYNTHETIC_TASKS[spec.task],
                num_sequences=spec.num_sequences,
                seed=spec.seed,
                sequence_length=spec.sequence_length,
                name=request.name,
                budget=self.budget,
                should_stop=lambda: not context.is_active(),
            )
        elif source == "hdf5":
            info = datasets.import_hdf5(
                self.store,
                request.hdf5.content,
                reverse_complement=request.hdf5.reverse_complement,
                name=request.name,
                budget=self.budget,
            )
        elif source == "fasta":
            fasta = request.fasta
            if not fasta.HasField("labels"):
                raise InvalidInputError("fasta.labels: unset; expected a (N, T) float32 or int8 tensor")
            labels = tensor_to_array(
                fasta.labels, field="fasta.labels", dtypes=(np.float32, np.int8), finite=True
            )
            info = datasets.import_fasta(
                self.store,
                fasta.fasta,
                labels,
                seed=fasta.seed,
                reverse_complement=fasta.reverse_complement,
                name=request.name,
                budget=self.budget,
                label_names=[
                    check_name(n, f"fasta.label_names[{i}]") for i, n in enumerate(fasta.label_names)
                ],
                held_out=_fasta_held_out(fasta),
            )
        elif source == "intervals":
            info, counts = intervals.import_intervals(
                self.store,
                _intervals_request(request.intervals, request.name),
                budget=self.budget,
                should_stop=caller_gone(context),
            )
            return pb.CreateDatasetResponse(
                dataset=dataset_to_proto(info),
                windows=pb.WindowCounts(
                    requested=counts.requested,
                    kept=counts.kept,
                    off_chromosome_end=counts.off_chromosome_end,
                    too_many_n=counts.too_many_n,
                    negatives_requested=counts.negatives_requested,
                    negatives_made=counts.negatives_made,
                    negatives=counts.negatives,
                    split=counts.split,
                ),
            )
        else:
            raise InvalidInputError("source: unset; expected one of synthetic, hdf5, fasta or intervals")
        return pb.CreateDatasetResponse(dataset=dataset_to_proto(info))

    def GetDataset(self, request, context):  # noqa: N802
        """Describe one data set."""
        info = get_dataset_info(self.store, request.dataset_id)
        return pb.GetDatasetResponse(
            dataset=dataset_to_proto(info, labels.labels_of(self.store, info.dataset_id))
        )

    def ListDatasets(self, request, context):  # noqa: N802
        """Every data set, newest first."""
        wanted = labels.parse_selector(request.label_selector)
        known = labels.all_labels(self.store)
        found = [i for i in list_datasets(self.store) if labels.matches(known.get(i.dataset_id, {}), wanted)]
        chosen, token = pages.page(
            found, lambda i: (i.created_at, i.dataset_id), request.page_size, request.page_token
        )
        return pb.ListDatasetsResponse(
            datasets=[dataset_to_proto(i, known.get(i.dataset_id, {})) for i in chosen], next_page_token=token
        )

    def Upload(self, request_iterator, context):  # noqa: N802
        """Store a file sent in chunks (see services/trainer/uploads.py)."""
        manifest = uploads.receive_upload(
            self.store, request_iterator, max_bytes=self.max_upload_bytes, should_stop=caller_gone(context)
        )
        return pb.UploadResponse(upload=pb.UploadInfo(**uploads.upload_info(manifest)))

    def ListUploads(self, request, context):  # noqa: N802
        """Every upload, newest first."""
        chosen, token = pages.page(
            self.store.list_artifacts(uploads.UPLOAD_KIND),
            _manifest_key,
            request.page_size,
            request.page_token,
        )
        return pb.ListUploadsResponse(
            uploads=[pb.UploadInfo(**uploads.upload_info(m)) for m in chosen], next_page_token=token
        )

    def DeleteDataset(self, request, context):  # noqa: N802
        """Delete a data set unless a pending or running job trains on it."""
        check_id(request.id, field_name="id", prefix="ds")
        users = [
            record["job_id"]
            for record in self.jobs.list_jobs()
            if record.get("dataset_id") == request.id and not is_terminal(str(record.get("state", "")))
        ]
        if users:
            shown = ", ".join(users[:5]) + (" ..." if len(users) > 5 else "")
            raise FailedPreconditionError(
                f"id: data set {request.id} is used by {len(users)} pending or running job(s): {shown}; "
                "cancel them (or wait) first"
            )
        return self._delete(request.id, DATASET_KIND)

    def DeleteModel(self, request, context):  # noqa: N802
        """Delete a model artifact."""
        return self._delete(request.id, "model")

    def DeleteResult(self, request, context):  # noqa: N802
        """Delete a stored result."""
        return self._delete(request.id, RESULT_KIND)

    def DeleteUpload(self, request, context):  # noqa: N802
        """Delete an upload (data sets made from it keep their own copy of the rows)."""
        return self._delete(request.id, uploads.UPLOAD_KIND)

    def _delete(self, artifact_id: str, kind: str) -> pb.DeleteResponse:
        check_id(artifact_id, field_name="id")
        manifest = self.store.delete_artifact(artifact_id, kind=kind)
        labels.forget_labels(self.store, artifact_id)
        forget_dataset(self.store, artifact_id)
        return pb.DeleteResponse(id=manifest.artifact_id, kind=manifest.kind)

    # ---- model files
    def ImportModel(self, request, context):  # noqa: N802
        """Store a lab's own .keras model (services/trainer/model_files.py)."""
        name = check_name(request.name, "name")
        given = labels.check_labels(request.labels)
        source = request.WhichOneof("source")
        if source is None:
            raise InvalidInputError("source: set keras_file (the file's bytes) or upload_id", field="source")
        with self._model_file_turn(), contextlib.ExitStack() as stack:
            if source == "upload_id":
                path, _ = stack.enter_context(
                    uploads.fetch_upload(self.store, request.upload_id, "upload_id")
                )
            else:
                path = stack.enter_context(scratch_directory()) / "model.keras"
                path.write_bytes(request.keras_file)
            manifest = model_files.import_model(
                self.store, path, name=name, settings=self.model_files, max_bytes=self.max_upload_bytes
            )
        if given:
            labels.set_labels(self.store, manifest.artifact_id, given)
        return pb.ImportModelResponse(model=model_info_to_proto(manifest, given))

    def ExportModel(self, request, context):  # noqa: N802
        """Stream a model's .keras file or a SavedModel tar: header, then chunks."""
        formats = (
            0,
            pb.ExportFormat.Value("EXPORT_FORMAT_KERAS"),
            pb.ExportFormat.Value("EXPORT_FORMAT_SAVED_MODEL"),
        )
        if request.format not in formats:
            raise InvalidInputError(
                f"format: expected EXPORT_FORMAT_KERAS or EXPORT_FORMAT_SAVED_MODEL, got {request.format}",
                field="format",
            )
        saved_model = request.format == formats[2]
        fmt = formats[2] if saved_model else formats[1]
        with contextlib.ExitStack() as stack:
            if saved_model:
                stack.enter_context(self._model_file_turn())
            path, file_name = stack.enter_context(
                model_files.exported_file(
                    self.store,
                    request.model_id,
                    saved_model=saved_model,
                    folder_name=request.name,
                    version=int(request.version),
                    settings=self.model_files,
                )
            )
            yield from model_files.export_chunks(path, file_name, fmt)

    @contextlib.contextmanager
    def _model_file_turn(self):
        if not self._model_file_slot.acquire(blocking=False):
            raise ResourceExhaustedError(
                "another model import or SavedModel export is running; retry shortly"
            )
        try:
            yield
        finally:
            self._model_file_slot.release()

    def SetLabels(self, request, context):  # noqa: N802
        """Replace the labels of any stored artifact."""
        check_id(request.id, field_name="id")
        given = labels.check_labels(request.labels)
        self.store.get_manifest(request.id)  # NOT_FOUND for an unknown artifact
        labels.set_labels(self.store, request.id, given)
        return pb.SetLabelsResponse(id=request.id, labels=given)

    def ReadSplit(self, request, context):  # noqa: N802
        """Stream rows of a stored split (see services/trainer/split_rows.py)."""
        yield from split_chunks(self.store, request, context.is_active)

    # ---- jobs
    def Train(self, request, context):  # noqa: N802
        """Validate and queue a training job."""
        check_name(request.name, "name")
        model, training = _model_spec(request.model), _training_spec(request.training)
        record = self.jobs.submit(
            request.dataset_id, model, training, name=request.name, labels=labels.check_labels(request.labels)
        )
        return pb.TrainResponse(job_id=record["job_id"], state=state_name(record["state"]))

    def GetJob(self, request, context):  # noqa: N802
        """One job's state (an attribution job in a cluster reconciled with its Kubernetes Job)."""
        record = self.jobs.get_job(request.job_id)
        kubernetes_kinds = attribution_jobs.is_attribution(record) or variants_jobs.is_variants(record)
        if kubernetes_kinds and record.get("executor") == "kubernetes":
            record = attribution_jobs.reconcile(self.store, record, self.sweeps.kubernetes())
        return pb.GetJobResponse(job=self._job_message(record))

    def _job_message(self, record: dict) -> pb.Job:
        """The Job message; an attribution or variants job's progress as the store shows it now."""
        if attribution_jobs.is_attribution(record):
            return job_to_proto(record, self.jobs.attribution_progress(record))
        if variants_jobs.is_variants(record):
            return job_to_proto(record, (self.jobs.variants_progress(record), 0))
        return job_to_proto(record)

    def ScoreVariantsJob(self, request, context):  # noqa: N802
        """Validate and start a variant scoring job over an uploaded VCF."""
        spec = variants_jobs.prepare(self.store, request)
        record = variants_jobs.launch(self.jobs, self.sweeps, spec, parallelism=request.parallelism)
        return pb.TrainResponse(job_id=record["job_id"], state=state_name(record["state"]))

    def ReadVariantScores(self, request, context):  # noqa: N802
        """A stored variants artifact: batches in input order, then the summary."""
        yield from variants_jobs.read_scores(self.store, request, context.is_active)

    def ReadAttributions(self, request, context):  # noqa: N802
        """Rows of a stored attributions artifact, in bounded messages."""
        yield from attribution_jobs.read_rows(self.store, request, context.is_active)

    def DiscoverMotifsJob(self, request, context):  # noqa: N802
        """Validate and queue TF-MoDISco on a stored attributions artifact."""
        spec = motifs_jobs.prepare(self.store, request, self.discovery_limits)
        record = self.jobs.submit_job(
            lambda job_id: motifs_jobs.new_record(
                job_id, spec, request, self.store, owner=self.jobs.manager_id
            )
        )
        return pb.TrainResponse(job_id=record["job_id"], state=state_name(record["state"]))

    def AttributeSplit(self, request, context):  # noqa: N802
        """Validate and start an attribution job over a stored split."""
        spec = attribution_jobs.prepare(self.store, request)
        record = attribution_jobs.launch(self.jobs, self.sweeps, spec, parallelism=request.parallelism)
        return pb.TrainResponse(job_id=record["job_id"], state=state_name(record["state"]))

    # watch_handler turns this into the generated (request, context) signature, hence the ignore.
    @watch_handler
    def WatchJob(self, request, context, send: SendResponse) -> None:  # type: ignore[override]  # noqa: N802
        """Past and live epoch events, then the final job; holds no thread while the job runs.

        The id is checked (and the job looked up) here, so a bad or unknown id fails the
        call at once; the events are sent by :class:`services.trainer.watchers.JobWatchers`.
        """
        job_id = request.job_id
        read_job(self.store, job_id)

        def deliver(kind: str, item: dict) -> None:
            running = trainer_pb2.JOB_STATE_RUNNING
            if kind == "epoch" and item.get("kind") == "progress":  # an attribution job's shard
                fields = {k: item[k] for k in ("shards_done", "shards", "sequences_done", "num_sequences")}
                send(pb.JobEvent(job_id=job_id, state=running, progress=pb.AttributionProgress(**fields)))
            elif kind == "epoch":
                send(pb.JobEvent(job_id=job_id, state=running, epoch=epoch_to_proto(item)))
            else:
                send(
                    pb.JobEvent(job_id=job_id, state=state_name(item["state"]), final=self._job_message(item))
                )
                send(None)

        def fail(error: Exception) -> None:
            end_stream_with_error(context, send, error)

        watcher = self.jobs.watchers.add(job_id, deliver, fail)
        when_call_ends(context, lambda: self.jobs.watchers.remove(watcher))

    def CancelJob(self, request, context):  # noqa: N802
        """Cancel a queued or running job."""
        return pb.CancelJobResponse(job=self._job_message(self.jobs.cancel(request.job_id)))

    def ListJobs(self, request, context):  # noqa: N802
        """Every job, newest first."""
        chosen, token = pages.page(
            self.jobs.list_jobs(),
            lambda r: (str(r.get("created_at", "")), str(r.get("job_id", ""))),
            request.page_size,
            request.page_token,
        )
        return pb.ListJobsResponse(
            jobs=[self._job_message(record) for record in chosen], next_page_token=token
        )

    def ListModels(self, request, context):  # noqa: N802
        """Trained models, newest first, optionally of one data set and with given labels."""
        wanted = labels.parse_selector(request.label_selector)
        known = labels.all_labels(self.store)
        found = [
            m
            for m in list_models(self.store, request.dataset_id)
            if labels.matches(known.get(m.artifact_id, {}), wanted)
        ]
        chosen, token = pages.page(found, _manifest_key, request.page_size, request.page_token)
        return pb.ListModelsResponse(
            models=[model_info_to_proto(m, known.get(m.artifact_id, {})) for m in chosen],
            next_page_token=token,
        )

    # ---- sweeps
    def Sweep(self, request, context):  # noqa: N802
        """Validate a grid, record one job per configuration and launch them."""
        check_name(request.name, "name")
        for field_name, limit in (
            ("architectures", 64),
            ("activations", 256),
            ("seeds", 1000),
            ("initializers", 64),
        ):
            check_count(getattr(request, field_name), field_name, limit)
        sweep = SweepRequest(
            dataset_id=request.dataset_id,
            architectures=list(request.architectures),
            activations=[_activation_axis(a, i) for i, a in enumerate(request.activations)],
            seeds=list(request.seeds),
            initializers=list(request.initializers),
            base_model=_model_spec(request.base_model),
            training=_training_spec(request.training),
            name=request.name,
            parallelism=request.parallelism,
            gpu=request.gpu,
        )
        return pb.SweepResponse(sweep=sweep_to_proto(self.sweeps.start(sweep)))

    def GetSweep(self, request, context):  # noqa: N802
        """A sweep's progress (and its jobs when asked)."""
        summary, jobs = self.sweeps.get(request.sweep_id)
        return pb.GetSweepResponse(
            sweep=sweep_to_proto(summary),
            jobs=[job_to_proto(job) for job in jobs] if request.include_jobs else [],
        )

    def ListSweeps(self, request, context):  # noqa: N802
        """Every sweep, newest first."""
        summaries, token = self.sweeps.list(request.page_size, request.page_token)
        return pb.ListSweepsResponse(sweeps=[sweep_to_proto(s) for s in summaries], next_page_token=token)

    def CancelSweep(self, request, context):  # noqa: N802
        """Cancel every unfinished job of a sweep."""
        return pb.CancelSweepResponse(sweep=sweep_to_proto(self.sweeps.cancel(request.sweep_id)))

    def PutResult(self, request, context):  # noqa: N802
        """Store an experiment result (JSON) as an immutable artifact of kind "result"."""
        check_name(request.name, "name")
        data = request.json.encode()
        if not data:
            raise InvalidInputError("json: expected a JSON document, got an empty string")
        if len(data) > MAX_RESULT_BYTES:
            raise InvalidInputError(f"json: at most {MAX_RESULT_BYTES} bytes, got {len(data)}")
        try:
            json.loads(request.json)
        except ValueError as error:
            raise InvalidInputError(f"json: not valid JSON ({error})") from None
        manifest = self.store.put_artifact(
            RESULT_KIND, {RESULT_OBJECT: data}, id_prefix="result", metadata={"name": request.name}
        )
        return pb.PutResultResponse(result_id=manifest.artifact_id, created_at=manifest.created_at)

    def GetResult(self, request, context):  # noqa: N802
        """A stored result by id."""
        check_id(request.result_id, field_name="result_id", prefix="result")
        manifest = self.store.get_manifest(request.result_id, kind=RESULT_KIND)
        return pb.GetResultResponse(
            result_id=manifest.artifact_id,
            name=manifest.metadata.get("name", ""),
            json=self.store.read_object(manifest.artifact_id, RESULT_OBJECT).decode(),
            created_at=manifest.created_at,
        )


# --------------------------------------------------------------------------- core -> proto


def _fasta_held_out(fasta: pb.FastaImport) -> datasets.HeldOut:
    parts = []
    for name in ("valid_ids", "test_ids", "valid_chroms", "test_chroms"):
        values = list(getattr(fasta, name))
        check_count(values, f"fasta.{name}", 100_000)
        parts.append([check_name(value, f"fasta.{name}[{i}]") for i, value in enumerate(values)])
    return parts[0], parts[1], parts[2], parts[3]


def _manifest_key(manifest: Manifest) -> tuple[str, str]:
    return manifest.created_at, manifest.artifact_id


def _bed_input(source: pb.BedSource, field: str) -> intervals.BedInput:
    form = source.WhichOneof("content")
    return intervals.BedInput(
        field=field,
        name=source.name,
        text=source.text if form == "text" else None,
        upload_id=source.upload_id if form == "upload_id" else None,
    )


def _intervals_request(spec: pb.GenomeIntervalsImport, name: str) -> intervals.IntervalsRequest:
    """The core request of a GenomeIntervalsImport (enums by name; unknown values refused)."""
    try:
        negatives = vocabulary.enum_name(
            vocabulary.NEGATIVES_BY_NAME, spec.negatives, field="intervals.negatives"
        )
        centre = vocabulary.enum_name(vocabulary.CENTRE_BY_NAME, spec.centre, field="intervals.centre")
    except WireError as error:
        raise from_wire(error) from None
    if len(spec.peaks) > intervals.MAX_PEAK_FILES:
        raise InvalidInputError(
            f"intervals.peaks: at most {intervals.MAX_PEAK_FILES} peak files, got {len(spec.peaks)}",
            field="intervals.peaks",
        )
    return intervals.IntervalsRequest(
        genome_upload_id=spec.genome_upload_id,
        peaks=[_bed_input(bed, f"intervals.peaks[{i}]") for i, bed in enumerate(spec.peaks)],
        negatives=negatives,
        background=_bed_input(spec.background, "intervals.background")
        if spec.HasField("background")
        else None,
        negative_ratio=spec.negative_ratio,
        window_length=spec.window_length,
        centre=centre,
        max_n_fraction=spec.max_n_fraction
        if spec.HasField("max_n_fraction")
        else intervals.DEFAULT_MAX_N_FRACTION,
        valid_chroms=list(spec.valid_chroms),
        test_chroms=list(spec.test_chroms),
        seed=spec.seed,
        reverse_complement=spec.reverse_complement,
        name=name,
    )


def _finite(value: float, field_name: str) -> float:
    """Refuse NaN and infinities at the boundary (before any layer or optimiser sees them)."""
    if not math.isfinite(value):
        raise InvalidInputError(f"{field_name}: expected a finite number, got {value}")
    return value


def _model_spec(model: pb.ModelSpec) -> dict:
    """The request's ModelSpec as the dict ``model_config_from_spec`` resolves (unset L2: None)."""
    check_count(model.activation_params, "model.activation_params", 16)
    for key, value in model.activation_params.items():
        check_name(key, "model.activation_params key")
        _finite(value, f"model.activation_params[{key!r}]")
    _finite(model.initializer_std, "model.initializer_std")
    if model.HasField("first_layer_l2"):
        _finite(model.first_layer_l2, "model.first_layer_l2")
    for field_name in ("architecture", "activation", "initializer"):
        check_name(getattr(model, field_name), f"model.{field_name}")
    return {
        "architecture": model.architecture,
        "activation": model.activation,
        "activation_params": dict(model.activation_params),
        "initializer": model.initializer,
        "initializer_std": model.initializer_std,
        "width_multiplier": model.width_multiplier,
        "seed": model.seed,
        "first_layer_l2": model.first_layer_l2 if model.HasField("first_layer_l2") else None,
    }


def _activation_axis(activation, index: int) -> tuple[str, dict]:
    """One activation of a sweep grid as (name, params), its numbers checked finite."""
    check_name(activation.name, f"activations[{index}].name")
    check_count(activation.params, f"activations[{index}].params", 16)
    for key, value in activation.params.items():
        check_name(key, f"activations[{index}].params key")
        _finite(value, f"activations[{index}].params[{key!r}]")
    return activation.name, dict(activation.params)


def _training_spec(training: pb.TrainingSpec) -> dict:
    _finite(training.learning_rate, "training.learning_rate")
    _finite(training.lr_decay_factor, "training.lr_decay_factor")
    return {
        "epochs": training.epochs,
        "batch_size": training.batch_size,
        "learning_rate": training.learning_rate,
        "patience": training.patience,
        "lr_patience": training.lr_patience,
        "lr_decay_factor": training.lr_decay_factor,
    }


def _enum_name(value: int) -> str:
    try:
        return pb.SyntheticTask.Name(value)
    except ValueError:
        return str(value)
