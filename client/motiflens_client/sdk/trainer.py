"""TrainerService calls: data sets, ReadSplit, training jobs, sweeps, results."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any, cast

import grpc
import numpy as np

from motiflens_client import _convert
from motiflens_client._tensors import (
    array_to_tensor,
    reassemble,
    split_ref,
    tensor_to_array,
)
from motiflens_client.errors import (
    InvalidArgument,
    MotiflensClientError,
)
from motiflens_client.sdk import inputs
from motiflens_client.sdk._calls import (
    _TASKS,
    ClientBase,
    _output_choice,
)
from motiflens_client.sdk.handles import AttributionJob, Job, MotifsJob, Sweep, VariantsJob
from motiflens_client.sdk.interpreter import attribute_request, discovery_request
from motiflens_client.sdk.progress import Progress, open_bar
from motiflens_client.types import (
    DatasetInfo,
    DatasetSplit,
    JobInfo,
    ModelInfo,
    SplitRows,
    StoredAttributions,
    SweepInfo,
    VariantScores,
)
from motiflens_client.wire import pb
from motiflens_client.wire.vocabulary import ATTRIBUTION_FORMAT_BY_NAME


class TrainerCalls(ClientBase):
    """The TrainerService methods of :class:`~motiflens_client.sdk.Client`."""

    def create_task(
        self, task: int, *, num_sequences: int = 0, seed: int = 0, sequence_length: int = 0, name: str = ""
    ) -> DatasetInfo:
        """Generate one of the paper's synthetic tasks and store it.

        Parameters
        ----------
        task : int
            1 (12 TF motifs, multi-label) or 3 (regulatory code, binary).
        num_sequences : int, default 0
            Total sequences, split 0.7/0.1/0.2 (0: 30,000 for Task 1, 20,000 for Task 3).
        seed : int, default 0
        sequence_length : int, default 0
            nt per sequence (0: 200).
        name : str, default ""
            Display name.

        Returns
        -------
        DatasetInfo

        Raises
        ------
        InvalidArgument
            Another task number or bad sizes.
        ResourceExhausted
            Over the server's size limit.
        """
        if task not in _TASKS:
            raise InvalidArgument(f"task: expected 1 or 3, got {task!r}")
        request = pb.CreateDatasetRequest(
            name=name,
            synthetic=pb.SyntheticSpec(
                task=cast(Any, _TASKS[task]),  # a SyntheticTask value
                num_sequences=num_sequences,
                seed=seed,
                sequence_length=sequence_length,
            ),
        )
        return _convert.dataset_info(self._unary(self._trainer, "CreateDataset", request).dataset)

    def import_hdf5(
        self, path: str | os.PathLike, *, reverse_complement: bool = False, name: str = ""
    ) -> DatasetInfo:
        """Upload an HDF5 file in the paper's layout (X_train, Y_train, ..., X as (N, 4, L) or (N, L, 4)).

        Parameters
        ----------
        path : str or os.PathLike
            The file; sent whole (bounded by the server's maximum message size).
        reverse_complement : bool, default False
            Augment the training split with reverse complements.
        name : str, default ""

        Returns
        -------
        DatasetInfo

        Raises
        ------
        OSError
            The file cannot be read.
        InvalidArgument
            Malformed HDF5 (the message names the dataset inside the file).
        """
        content = Path(path).expanduser().read_bytes()
        request = pb.CreateDatasetRequest(
            name=name, hdf5=pb.Hdf5Import(content=content, reverse_complement=reverse_complement)
        )
        return _convert.dataset_info(self._unary(self._trainer, "CreateDataset", request).dataset)

    def import_fasta(
        self,
        fasta: str | os.PathLike,
        labels: np.ndarray | str | os.PathLike | inputs.Labels,
        *,
        seed: int = 0,
        reverse_complement: bool = False,
        name: str = "",
        valid_ids: Sequence[str] = (),
        test_ids: Sequence[str] = (),
        valid_chroms: Sequence[str] = (),
        test_chroms: Sequence[str] = (),
    ) -> DatasetInfo:
        """Upload FASTA sequences with labels; the server splits them 0.7/0.1/0.2.

        Parameters
        ----------
        fasta : str or os.PathLike
            A path (plain or gzip) when it names an existing file, else FASTA text. All
            records of one length; a record's name is the first word of its header
            (returned by :meth:`read_split`).
        labels : np.ndarray, path or Labels
            An array (N, T) or (N,) in record order (int8 is sent as is, anything else
            as float32); or a file (``.npy``, or a TSV/CSV table, rows in record order or
            keyed by record id in the first column, an optional header naming the
            columns): see :mod:`motiflens_client.sdk.inputs`.
        seed : int, default 0
            Seed of the random split.
        reverse_complement : bool, default False
            Augment the training split with reverse complements.
        name : str, default ""
        valid_ids, test_ids, valid_chroms, test_chroms : sequence of str, optional
            Hold records out by id, or by chromosome (the id up to its first ":", e.g.
            ``chr8:1200-1400``), instead of the random split; the rest train.

        Returns
        -------
        DatasetInfo
            ``label_names`` from a table's header.

        Raises
        ------
        InvalidArgument
            Bad bases (the message gives the file and line), unequal lengths, fewer than
            10 records, labels whose rows do not match the records, an unreadable file.
        """
        records = inputs.read_fasta(fasta)
        if not isinstance(labels, inputs.Labels):
            raw = labels
            as_int8 = isinstance(raw, np.ndarray) and raw.dtype == np.int8
            labels = inputs.read_labels(raw, ids=records.ids)
            values = labels.values.astype(np.int8) if as_int8 else labels.values
        else:
            values = labels.values
        request = pb.CreateDatasetRequest(
            name=name,
            fasta=pb.FastaImport(
                fasta=records.to_text(),
                labels=array_to_tensor(values, field="labels"),
                seed=seed,
                reverse_complement=reverse_complement,
                label_names=list(labels.names),
                valid_ids=list(valid_ids),
                test_ids=list(test_ids),
                valid_chroms=list(valid_chroms),
                test_chroms=list(test_chroms),
            ),
        )
        return _convert.dataset_info(self._unary(self._trainer, "CreateDataset", request).dataset)

    def get_dataset(self, dataset_id: str) -> DatasetInfo:
        """Describe a stored data set.

        Raises
        ------
        InvalidArgument
            Malformed id.
        NotFound
            Unknown id.
        """
        request = pb.GetDatasetRequest(dataset_id=dataset_id)
        return _convert.dataset_info(self._unary(self._trainer, "GetDataset", request).dataset)

    def list_datasets(self, *, labels: Mapping[str, str] | None = None) -> list[DatasetInfo]:
        """Every stored data set, newest first; only those carrying all of ``labels`` when given."""
        request = pb.ListDatasetsRequest(label_selector=_selector(labels))
        messages = self._all_pages(self._trainer, "ListDatasets", request, "datasets")
        return [_convert.dataset_info(message) for message in messages]

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a stored data set (its models stay).

        Raises
        ------
        FailedPrecondition
            A pending or running job trains on it (the message names the jobs).
        NotFound
            No such data set.
        """
        self._unary(self._trainer, "DeleteDataset", pb.DeleteRequest(id=dataset_id))

    def set_labels(self, artifact_id: str, labels: Mapping[str, str]) -> dict[str, str]:
        """Replace the key=value labels of a data set, model, result or upload ({} clears them).

        Raises
        ------
        InvalidArgument
            A key outside ``[a-z0-9][a-z0-9_.-]{0,62}``, a value over 128 characters, over 32 labels.
        NotFound
            No such artifact.
        """
        request = pb.SetLabelsRequest(id=artifact_id, labels={str(k): str(v) for k, v in labels.items()})
        return dict(self._unary(self._trainer, "SetLabels", request).labels)

    def delete_model(self, model_id: str) -> None:
        """Delete a model (NotFound when there is none)."""
        self._unary(self._trainer, "DeleteModel", pb.DeleteRequest(id=model_id))

    def delete_result(self, result_id: str) -> None:
        """Delete a stored result (NotFound when there is none)."""
        self._unary(self._trainer, "DeleteResult", pb.DeleteRequest(id=result_id))

    def read_split(
        self,
        dataset_id: str,
        split: str = "test",
        *,
        offset: int = 0,
        limit: int = 0,
        ground_truth: bool = False,
        rows_per_chunk: int = 0,
        timeout: float | None = None,
        progress: Progress = None,
    ) -> SplitRows:
        """Rows of a stored split (``TrainerService.ReadSplit``), streamed in chunks and reassembled.

        Parameters
        ----------
        dataset_id : str
        split : str, default "test"
            "train", "valid" or "test".
        offset : int, default 0
            First row.
        limit : int, default 0
            Number of rows; 0 = every row from ``offset`` on.
        ground_truth : bool, default False
            Also read each row's ground-truth sequence model (synthetic tasks only).
        rows_per_chunk : int, default 0
            Rows per streamed message (0: the server's choice, about 4 MiB); never changes the result.
        timeout : float, optional
            Seconds for the whole stream (default: the client's timeout).
        progress : None, bool or callable
            A bar of rows received of all on stderr, advancing as chunks arrive. None
            (default): when stderr is a terminal or in a notebook and more than one chunk
            comes; True: always; False: never; or a tqdm-compatible factory
            (:mod:`motiflens_client.sdk.progress`).

        Returns
        -------
        SplitRows
            ``one_hot`` (N, L, 4) float32, ``labels`` (N, T) float32, ``ground_truth``
            (N, L, 4) float32 or None, ``names`` (N record names, or empty).

        Raises
        ------
        InvalidArgument
            Malformed id, unknown split, negative offset, limit or rows_per_chunk, an
            offset past the end of the split.
        NotFound
            Unknown data set.
        FailedPrecondition
            ``ground_truth`` asked of a data set that stores none.
        """
        if rows_per_chunk < 0:
            raise InvalidArgument(
                f"rows_per_chunk: expected >= 0 (0 = the server's default), got {rows_per_chunk}"
            )
        ref = split_ref(DatasetSplit(dataset_id, split, offset, limit), field="rows")
        request = pb.ReadSplitRequest(rows=ref, ground_truth=ground_truth, rows_per_chunk=rows_per_chunk)
        one_hot: dict[int, np.ndarray] = {}
        labels: dict[int, np.ndarray] = {}
        truth: dict[int, np.ndarray] = {}
        names: dict[int, list[str]] = {}
        total = 0
        with ExitStack() as bars:
            bar = None
            for chunk in self._stream(
                self._trainer, "ReadSplit", request, timeout=self.timeout if timeout is None else timeout
            ):
                # Keyed by the row within the answer; a restarted stream's repeats overwrite their twins.
                start = int(chunk.offset) - int(ref.offset)
                rows = int(chunk.one_hot.shape[0]) if chunk.one_hot.shape else 0
                if bar is None:  # the first chunk tells the rows of the whole answer and per chunk
                    bar = bars.enter_context(
                        closing(
                            open_bar(
                                progress,
                                total=int(chunk.total_rows),
                                desc=f"read {split}",
                                unit="row",
                                per_step=max(rows, 1),
                            )
                        )
                    )
                if start not in one_hot:
                    bar.update(rows)
                one_hot[start] = tensor_to_array(chunk.one_hot, field="one_hot")
                labels[start] = tensor_to_array(chunk.labels, field="labels")
                if chunk.HasField("ground_truth"):
                    truth[start] = tensor_to_array(chunk.ground_truth, field="ground_truth")
                names[start] = list(chunk.names)
                total = int(chunk.total_rows)
        X = reassemble(one_hot, field="one_hot")
        y = reassemble(labels, field="labels")
        model = reassemble(truth, field="ground_truth") if truth else None
        if X.shape[0] != total or y.shape[0] != total or (model is not None and model.shape[0] != total):
            raise MotiflensClientError(
                grpc.StatusCode.DATA_LOSS,
                f"ReadSplit: chunks hold {X.shape[0]} rows, the server announced {total}",
            )
        if ground_truth and model is None:
            raise MotiflensClientError(grpc.StatusCode.DATA_LOSS, "ReadSplit: ground_truth asked, none sent")
        record_names = [name for first in sorted(names) for name in names[first]]
        if record_names and len(record_names) != total:
            raise MotiflensClientError(
                grpc.StatusCode.DATA_LOSS, f"ReadSplit: {len(record_names)} names for {total} rows"
            )
        X, y = X.astype(np.float32, copy=False), y.astype(np.float32, copy=False)
        for array in (X, y, model):
            if array is not None:
                array.setflags(write=False)
        return SplitRows(
            dataset_id=dataset_id,
            split=split,
            offset=int(ref.offset),
            one_hot=X,
            labels=y,
            ground_truth=model,
            names=tuple(record_names),
        )

    def train(
        self,
        dataset_id: str,
        *,
        architecture: str = "cnn_deep",
        activation: str = "relu",
        activation_params: Mapping[str, float] | None = None,
        initializer: str = "",
        initializer_std: float = 0.0,
        width_multiplier: int = 0,
        seed: int = 0,
        first_layer_l2: float | None = None,
        epochs: int = 0,
        batch_size: int = 0,
        learning_rate: float = 0.0,
        patience: int = 0,
        name: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> Job:
        """Queue a training job; returns at once.

        Parameters
        ----------
        dataset_id : str
        architecture : str, default "cnn_deep"
            cnn_2, cnn_50, cnn_deep, cnn_local, cnn_dist, basset or residualbind.
        activation : str, default "relu"
            First-layer activation, e.g. "exponential".
        activation_params : mapping of str to float, optional
            E.g. ``{"scale": 2.0}``.
        initializer : str, default "" (glorot_uniform)
        initializer_std : float, default 0.0
            Standard deviation for random_normal.
        width_multiplier : int, default 0 (1)
        seed : int, default 0
        first_layer_l2 : float, optional
            L2 strength on the first-layer kernel (default: the activation's own, 0.2 for
            log_relu, else 1e-6); e.g. 0.2 with relu for the paper's log_relu control.
        epochs : int, default 0 (100)
        batch_size : int, default 0 (100)
        learning_rate : float, default 0.0 (1e-3)
        patience : int, default 0 (20; negative: no early stopping)
        name : str, default ""
            Name of the resulting model.
        labels : mapping of str to str, optional
            Key=value labels the resulting model gets (``list_models(labels=...)`` finds it).

        Returns
        -------
        Job

        Raises
        ------
        InvalidArgument
            Unknown architecture, activation or initializer; bad parameters.
        NotFound
            Unknown data set.
        ResourceExhausted
            The job queue is full.
        """
        request = pb.TrainRequest(
            labels={str(k): str(v) for k, v in (labels or {}).items()},
            dataset_id=dataset_id,
            model=pb.ModelSpec(
                architecture=architecture,
                activation=activation,
                activation_params={str(k): float(v) for k, v in (activation_params or {}).items()},
                initializer=initializer,
                initializer_std=initializer_std,
                width_multiplier=width_multiplier,
                seed=seed,
                first_layer_l2=first_layer_l2,
            ),
            training=pb.TrainingSpec(
                epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience
            ),
            name=name,
        )
        return Job(self, self._unary(self._trainer, "Train", request).job_id)

    def job(self, job_id: str) -> Job:
        """A handle on an existing job (checked with one GetJob call).

        Raises
        ------
        InvalidArgument
            Malformed id.
        NotFound
            Unknown id.
        """
        job = Job(self, job_id)
        job.info()
        return job

    def list_jobs(self) -> list[JobInfo]:
        """Every job, newest first."""
        messages = self._all_pages(self._trainer, "ListJobs", pb.ListJobsRequest(), "jobs")
        return [_convert.job_info(message) for message in messages]

    def list_models(
        self, dataset_id: str = "", *, labels: Mapping[str, str] | None = None
    ) -> list[ModelInfo]:
        """Trained models, newest first; only those of ``dataset_id`` and carrying all ``labels`` when given.

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown ``dataset_id``.
        """
        request = pb.ListModelsRequest(dataset_id=dataset_id, label_selector=_selector(labels))
        return [
            _convert.model_info(m) for m in self._all_pages(self._trainer, "ListModels", request, "models")
        ]

    def sweep(
        self,
        dataset_id: str,
        *,
        architectures: Sequence[str],
        activations: Sequence[str | tuple[str, Mapping[str, float]]],
        seeds: Sequence[int] = (),
        initializers: Sequence[str] = (),
        initializer_std: float = 0.0,
        width_multiplier: int = 0,
        first_layer_l2: float | None = None,
        epochs: int = 0,
        batch_size: int = 0,
        learning_rate: float = 0.0,
        patience: int = 0,
        name: str = "",
        parallelism: int = 0,
        gpu: bool = False,
    ) -> Sweep:
        """Start a sweep: one training job per (architecture, activation, initializer, seed).

        Out of a cluster the trainer's worker processes run the jobs; in a cluster the
        trainer creates one Kubernetes Indexed Job (one pod per configuration). Returns
        at once.

        Parameters
        ----------
        dataset_id : str
        architectures : sequence of str
            E.g. ``["cnn_2", "cnn_50", "cnn_deep"]``.
        activations : sequence of str or (str, mapping)
            Names, or (name, parameters) pairs such as ``("scaled_exponential", {"scale": 2})``.
        seeds : sequence of int, default () ([0])
        initializers : sequence of str, default () (["glorot_uniform"])
        initializer_std, width_multiplier, first_layer_l2
            Shared by every configuration (see :meth:`train`).
        epochs, batch_size, learning_rate, patience
            Shared training settings (0: the paper's defaults).
        name : str, default ""
            Prefix of the model names ("<name>/<architecture>/<activation>/<initializer>/seed<seed>").
        parallelism : int, default 0
            Pods at once in a cluster (0: the server's default).
        gpu : bool, default False
            In a cluster: GPU nodes and the GPU image.

        Returns
        -------
        Sweep

        Raises
        ------
        InvalidArgument
            An empty or repeated axis, or any value ``train`` would reject.
        NotFound
            Unknown data set.
        ResourceExhausted
            More configurations than the server accepts in one sweep.
        FailedPrecondition
            ``gpu`` without a GPU image, or the cluster refused the Job.
        """
        choices = []
        for item in activations:
            activation, params = (item, {}) if isinstance(item, str) else item
            choices.append(
                pb.ActivationChoice(
                    name=activation, params={str(k): float(v) for k, v in dict(params or {}).items()}
                )
            )
        request = pb.SweepRequest(
            dataset_id=dataset_id,
            architectures=list(architectures),
            activations=choices,
            seeds=[int(seed) for seed in seeds],
            initializers=list(initializers),
            base_model=pb.ModelSpec(
                initializer_std=initializer_std,
                width_multiplier=width_multiplier,
                first_layer_l2=first_layer_l2,
            ),
            training=pb.TrainingSpec(
                epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience
            ),
            name=name,
            parallelism=parallelism,
            gpu=gpu,
        )
        response = self._unary(self._trainer, "Sweep", request)
        return Sweep(self, response.sweep.sweep_id)

    def get_sweep(self, sweep_id: str) -> Sweep:
        """A handle on an existing sweep (checked with one GetSweep call).

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown id.
        """
        sweep = Sweep(self, sweep_id)
        sweep.info()
        return sweep

    def list_sweeps(self) -> list[SweepInfo]:
        """Every sweep, newest first."""
        messages = self._all_pages(self._trainer, "ListSweeps", pb.ListSweepsRequest(), "sweeps")
        return [_convert.sweep_info(message) for message in messages]

    def save_result(self, name: str, result: dict) -> str:
        """Store a JSON-serialisable result (e.g. an experiment's) in the artifact store.

        Returns
        -------
        str
            The result id (``result-...``), for :meth:`get_result`.

        Raises
        ------
        InvalidArgument
            Not JSON-serialisable, empty or larger than 16 MiB.
        """
        try:
            text = json.dumps(result, allow_nan=True)
        except (TypeError, ValueError) as error:
            raise InvalidArgument(f"result: not JSON-serialisable ({error})") from None
        response = self._unary(self._trainer, "PutResult", pb.PutResultRequest(name=name, json=text))
        return response.result_id

    def get_result(self, result_id: str) -> dict:
        """A result stored with :meth:`save_result`, as the dict it was saved from.

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown ``result_id``.
        """
        response = self._unary(self._trainer, "GetResult", pb.GetResultRequest(result_id=result_id))
        return json.loads(response.json)

    # ---- attribution jobs
    def attribute_split(
        self,
        model_id: str,
        dataset: DatasetSplit | None = None,
        *,
        fasta_upload_id: str = "",
        method: str = "deepshap",
        target: int = 0,
        output: str = "auto",
        reference: str = "shuffle",
        num_references: int = 0,
        num_steps: int = 0,
        seed: int = 0,
        gradient_correction: bool = False,
        file_format: str = "npz",
        shard_size: int = 0,
        chunk_size: int = 0,
        parallelism: int = 0,
        name: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> AttributionJob:
        """Start an attribution job over rows of a stored split; returns at once.

        The trainer attributes every row and stores one "attributions" artifact in
        modisco-lite's layout (one-hot and hypothetical maps, (N, 4, L)): ``wait()``
        returns its id, :meth:`read_attributions` reads it, and
        ``discover_motifs(attributions_id=...)`` runs TF-MoDISco on it.

        Parameters
        ----------
        model_id : str
        dataset : DatasetSplit
            The rows (offset and limit select a window) ...
        fasta_upload_id : str, default ""
            ... or a FASTA file (plain or gzip) sent with :meth:`upload`, every record of
            the model's input length; rows keep the file's order.
        method, target, output, reference, num_references, num_steps, seed, gradient_correction
            As for :meth:`attribute` (default method: "deepshap").
        file_format : {"npz", "hdf5"}, default "npz"
            "npz": ``ohe.npz`` and ``shap.npz`` (``modisco motifs -s ohe.npz -a shap.npz``);
            "hdf5": ``attributions.h5`` with datasets ``ohe`` and ``hypothetical``.
        shard_size : int, default 0 (1000)
            Rows per shard: the unit of resumption, and of parallelism in a cluster.
        chunk_size : int, default 0 (64)
            Sequences per model pass group; never changes the result.
        parallelism : int, default 0 (the server's default)
            Pods at once in a cluster.
        name : str, default ""
        labels : mapping of str to str, optional
            Labels of the artifact.

        Raises
        ------
        InvalidArgument
            A bad setting (the field is named, e.g. ``attribution.target``), rows out of range.
        NotFound
            Unknown model or data set.
        ResourceExhausted
            The job queue is full.
        """
        if fasta_upload_id and dataset is not None:
            raise InvalidArgument("dataset: give a DatasetSplit or fasta_upload_id, not both")
        if not fasta_upload_id and not isinstance(dataset, DatasetSplit):
            raise InvalidArgument(
                "dataset: expected a DatasetSplit (a job attributes stored rows) or fasta_upload_id"
            )
        if file_format not in ATTRIBUTION_FORMAT_BY_NAME:
            raise InvalidArgument(
                f"file_format: expected one of {', '.join(ATTRIBUTION_FORMAT_BY_NAME)}, got {file_format!r}"
            )
        attribution = attribute_request(
            model_id, dataset, method, target, output, reference, num_references, num_steps, seed
        )
        attribution.gradient_correction = gradient_correction
        attribution.chunk_size = chunk_size
        request = pb.AttributeSplitRequest(
            attribution=attribution,
            format=ATTRIBUTION_FORMAT_BY_NAME[file_format],  # type: ignore[arg-type]  # an enum value
            shard_size=shard_size,
            parallelism=parallelism,
            name=name,
            labels=dict(labels or {}),
            fasta_upload_id=fasta_upload_id,
        )
        response = self._unary(self._trainer, "AttributeSplit", request)
        return AttributionJob(self, response.job_id)

    def discover_motifs_job(
        self,
        attributions_id: str,
        *,
        positives_only: bool = False,
        max_seqlets: int = 0,
        window: int = 0,
        sliding_window_size: int = 0,
        flank_size: int = 0,
        trim_to_window_size: int = 0,
        target_seqlet_fdr: float = 0.0,
        n_leiden_runs: int = 0,
        database: str = "",
        database_meme: str = "",
        evalue_threshold: float = 0.0,
        logos: bool = False,
        name: str = "",
    ) -> MotifsJob:
        """Start TF-MoDISco on a stored attributions artifact as a trainer job; returns at once.

        The job outlives restarts of the trainer (it is run again from the artifact).
        ``wait()`` returns its info with ``motifs_id``; :meth:`get_motifs` reads the
        result. The parameters are those of :meth:`discover_motifs`.

        Raises
        ------
        InvalidArgument, NotFound, FailedPrecondition, ResourceExhausted
            As :meth:`discover_motifs` on the same artifact, before a job exists.
        """
        request = discovery_request(
            "",
            None,
            attributions_id=attributions_id,
            positives_only=positives_only,
            method="deepshap",
            target=0,
            output="auto",
            reference="shuffle",
            num_references=0,
            num_steps=0,
            seed=0,
            gradient_correction=False,
            max_seqlets=max_seqlets,
            window=window,
            sliding_window_size=sliding_window_size,
            flank_size=flank_size,
            trim_to_window_size=trim_to_window_size,
            target_seqlet_fdr=target_seqlet_fdr,
            n_leiden_runs=n_leiden_runs,
            database=database,
            database_meme=database_meme,
            evalue_threshold=evalue_threshold,
            logos=logos,
            name=name,
        )
        response = self._unary(self._trainer, "DiscoverMotifsJob", request)
        return MotifsJob(self, response.job_id)

    def score_variants_job(
        self,
        model_id: str,
        *,
        vcf_upload_id: str,
        genome_upload_id: str,
        output: str = "auto",
        both_strands: bool = False,
        shard_size: int = 0,
        parallelism: int = 0,
        name: str = "",
    ) -> VariantsJob:
        """Score an uploaded VCF as a trainer job (any size; sharded; a cluster runs the shards as pods).

        ``wait()`` returns the info with ``variants_id``; :meth:`read_variant_scores` reads
        the scores (as :meth:`score_variants` returns them, without maps). ``shard_size``:
        alleles per shard (0: 10,000).

        Raises
        ------
        InvalidArgument
            A malformed VCF (the record is named), bad settings.
        NotFound
            Unknown model or upload.
        """
        request = pb.ScoreVariantsJobRequest(
            model_id=model_id,
            vcf_upload_id=vcf_upload_id,
            genome_upload_id=genome_upload_id,
            output=_output_choice(output),
            both_strands=both_strands,
            shard_size=shard_size,
            parallelism=parallelism,
            name=name,
        )
        response = self._unary(self._trainer, "ScoreVariantsJob", request)
        return VariantsJob(self, response.job_id)

    def read_variant_scores(self, variants_id: str, *, timeout: float | None = None) -> VariantScores:
        """The scores stored by a variants job, every allele in input order, and the summary."""
        request = pb.ReadVariantScoresRequest(variants_id=variants_id)
        return _convert.variant_scores(
            self._stream(
                self._trainer,
                "ReadVariantScores",
                request,
                timeout=self.timeout if timeout is None else timeout,
            )
        )

    def attribution_job(self, job_id: str) -> AttributionJob:
        """A handle on an existing attribution job."""
        return AttributionJob(self, job_id)

    def read_attributions(
        self, attributions_id: str, *, offset: int = 0, limit: int = 0, timeout: float | None = None
    ) -> StoredAttributions:
        """Rows [offset, offset + limit) of a stored attributions artifact (0: all from offset on).

        Returns
        -------
        StoredAttributions
            ``one_hot`` and ``hypothetical`` (N, L, 4) float32, ``projected``,
            ``modisco_arrays()`` and the artifact's ``provenance``.

        Raises
        ------
        NotFound
            Unknown id.
        InvalidArgument
            Malformed id, offset past the end.
        """
        request = pb.ReadAttributionsRequest(attributions_id=attributions_id, offset=offset, limit=limit)
        one_hot: dict[int, np.ndarray] = {}
        hypothetical: dict[int, np.ndarray] = {}
        provenance: dict = {}
        for rows in self._stream(
            self._trainer, "ReadAttributions", request, timeout=self.timeout if timeout is None else timeout
        ):
            start = rows.offset - offset
            one_hot[start] = tensor_to_array(rows.one_hot, field="one_hot")
            hypothetical[start] = tensor_to_array(rows.hypothetical, field="hypothetical")
            if rows.provenance_json:
                provenance = json.loads(rows.provenance_json)
        return StoredAttributions(
            one_hot=reassemble(one_hot, field="one_hot"),
            hypothetical=reassemble(hypothetical, field="hypothetical"),
            offset=offset,
            provenance=provenance,
        )


def _selector(labels: Mapping[str, str] | None) -> str:
    """A label selector "k=v,k2=v2" (the server checks keys and values)."""
    return ",".join(f"{key}={value}" for key, value in (labels or {}).items())
