"""Experiment runner: the paper's activation comparison through the services, with the SDK only.

An :class:`Experiment` reproduces one block of Koo & Ploenzke (2021): it makes (or
reuses) a synthetic data set, trains every (model, activation, seed) combination
on the trainer, turns each model's first-layer filters into motifs on the test
split, matches them against JASPAR with Tomtom, and for Task 3 scores every
attribution method against the ground truth. The outcome is an
:class:`~motiflens_client.experiments.results.ExperimentResult`: one row per trained
model plus the filter PWMs (for logos) and, for Task 3, one example sequence's
attribution maps per run.

Ground truth for the Fig. 2d logo
---------------------------------
The test labels, the example sequence and its ground-truth sequence model come
through the API (``Client.read_split``, i.e. ``TrainerService.ReadSplit``), wherever
the store is; the runner never reads the store's layout. The example is the first
positive test sequence (the first one the first model predicts positive when the
split holds no positive label).

Dependencies: numpy and the SDK. No TensorFlow and no motiflens core imports.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from motiflens_client.experiments.paper import ATTRIBUTION_METHODS, TASK3_GROUND_TRUTH
from motiflens_client.experiments.results import (
    ExampleSequence,
    ExperimentResult,
    InterpretabilityScore,
    RunResult,
    filter_set_from_match,
)
from motiflens_client.types import DatasetSplit
from motiflens_client.wire.vocabulary import activation_label

#: Deadline (seconds) for the long interpreter calls (interpretability of hundreds of sequences).
LONG_CALL_TIMEOUT = 3600.0


@dataclass
class Experiment:
    """A grid of trainings (model × activation × seed) on one synthetic task, then interpretation.

    Parameters
    ----------
    task : int
        1 (multi-label, 12 TFs) or 3 (binary, core TFs vs background motifs).
    models : sequence of str
        Architectures, e.g. ``["cnn_deep"]`` (Task 1) or ``["cnn_local", "cnn_dist"]`` (Task 3).
    activations : sequence of str or (str, mapping)
        First-layer activations, e.g. ``["relu", "exponential"]``, or (name, parameters)
        pairs such as ``("scaled_exponential", {"scale": 2})``, which are labelled
        ``"scaled_exponential(scale=2)"`` in the result.
    seeds : sequence of int
        Model seeds; each (model, activation) is trained once per seed.
    num_sequences : int, default 0
        Size of the generated data set (0: the paper's, 30,000 for Task 1 and 20,000 for Task 3).
    epochs : int, default 0
        Maximum epochs per model (0: the trainer's default, 100).
    patience : int, default 0
        Early-stopping patience in epochs (0: the trainer's default, 20).
    database : str, default "JASPAR2016"
        Motif database for Tomtom (a JASPAR release name or an uploaded database id).
    attribution_methods : sequence of str
        Task 3 only: methods scored for interpretability (default all four of the paper).
    interpretability_limit : int, default 500
        Task 3 only: positive test sequences scored per method: exactly the first
        ``interpretability_limit`` positives of the test split (its labels read with
        ``Client.read_split``).
    dataset_id : str, optional
        Reuse this stored data set instead of generating one (``num_sequences`` is then ignored).
    name : str, default ""
        Label of the experiment; prefixes job names and the data set name.
    data_seed : int, default 0
        Seed of the generated data set.
    first_layer_l2 : float, optional
        L2 strength on every model's first-layer kernel (default: each activation's
        own, 0.2 for log_relu, else 1e-6); 0.2 with relu is the paper's log_relu control.
    trust_sequences : int, default 0
        Also score each model's trust report (``Client.trust_report``) on the first
        ``trust_sequences`` test sequences (Task 3: the positives among them); the report
        gets a "Can the explanations be trusted?" section. 0: no trust report.

    Examples
    --------
    >>> with Client.local() as client:  # doctest: +SKIP
    ...     result = Experiment(1, ["cnn_deep"], ["relu", "exponential"], [0], epochs=20).run(client)
    ...     result.save("out")
    """

    task: int
    models: Sequence[str]
    activations: Sequence[str | tuple[str, Mapping[str, float]]]
    seeds: Sequence[int]
    _: dataclasses.KW_ONLY
    num_sequences: int = 0
    epochs: int = 0
    patience: int = 0
    database: str = "JASPAR2016"
    attribution_methods: Sequence[str] = ATTRIBUTION_METHODS
    interpretability_limit: int = 500
    dataset_id: str | None = None
    name: str = ""
    data_seed: int = 0
    first_layer_l2: float | None = None
    trust_sequences: int = 0

    def __post_init__(self) -> None:
        if self.task not in (1, 3):
            raise ValueError(f"task: expected 1 or 3, got {self.task!r}")
        for label, values in (
            ("models", self.models),
            ("activations", self.activations),
            ("seeds", self.seeds),
        ):
            if isinstance(values, str) or len(values) == 0:
                raise ValueError(f"{label}: expected a non-empty sequence, got {values!r}")
        for item in self.activations:
            pair = isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[1], Mapping)
            if not (isinstance(item, str) or (pair and isinstance(item[0], str))):
                raise ValueError(f"activations: expected names or (name, parameters) pairs, got {item!r}")
        unknown = [method for method in self.attribution_methods if method not in ATTRIBUTION_METHODS]
        if unknown:
            raise ValueError(
                f"attribution_methods: unknown {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(ATTRIBUTION_METHODS)}"
            )
        for label, value in (
            ("num_sequences", self.num_sequences),
            ("epochs", self.epochs),
            ("patience", self.patience),
        ):
            if value < 0:
                raise ValueError(f"{label}: expected >= 0 (0 = server default), got {value}")
        if self.trust_sequences < 0:
            raise ValueError(
                f"trust_sequences: expected >= 0 (0 = no trust report), got {self.trust_sequences}"
            )
        if self.interpretability_limit < 1:
            raise ValueError(f"interpretability_limit: expected >= 1, got {self.interpretability_limit}")
        if self.first_layer_l2 is not None and not (
            self.first_layer_l2 >= 0 and math.isfinite(self.first_layer_l2)
        ):
            raise ValueError(f"first_layer_l2: expected a finite number >= 0, got {self.first_layer_l2}")

    @property
    def ground_truth(self) -> dict[str, list[str]] | str:
        """Ground truth for MatchFilters: the task's planted TFs ("task1": the server's Task 1 map)."""
        if self.task == 3:
            return {tf: list(ids) for tf, ids in TASK3_GROUND_TRUTH.items()}
        return "task1"

    def activation_specs(self) -> list[tuple[str, str, dict[str, float]]]:
        """(label, name, parameters) per activation; the label is what results and reports show."""
        specs = []
        for item in self.activations:
            name, params = (item, {}) if isinstance(item, str) else (item[0], dict(item[1] or {}))
            specs.append(
                (activation_label(name, params), name, {str(k): float(v) for k, v in params.items()})
            )
        return specs

    def combinations(self) -> list[tuple[str, str, int]]:
        """(model, activation label, seed) in training order: model, then activation, then seed.

        The order of a sweep's grid, so combination ``i`` is the sweep's job ``i``.
        """
        return [
            (model, label, int(seed))
            for model in self.models
            for label, _, _ in self.activation_specs()
            for seed in self.seeds
        ]

    def config(self) -> dict:
        """The settings as a JSON-ready dict (stored in the result)."""
        return {
            "task": self.task,
            "models": list(self.models),
            "activations": [label for label, _, _ in self.activation_specs()],
            "seeds": [int(seed) for seed in self.seeds],
            "num_sequences": self.num_sequences,
            "epochs": self.epochs,
            "patience": self.patience,
            "database": self.database,
            "attribution_methods": list(self.attribution_methods) if self.task == 3 else [],
            "interpretability_limit": self.interpretability_limit,
            "name": self.name,
            "data_seed": self.data_seed,
            "first_layer_l2": self.first_layer_l2,
            "trust_sequences": self.trust_sequences,
        }

    # ------------------------------------------------------------------ run

    def run(self, client, *, progress: bool = True) -> ExperimentResult:
        """Create the data, train every combination, interpret each model.

        Parameters
        ----------
        client : motiflens_client.Client
            Connected to the trainer, interpreter and motifmatch services.
        progress : bool, default True
            Report each step and a per-epoch progress bar on stderr.

        Returns
        -------
        ExperimentResult

        Raises
        ------
        JobFailed
            A training job failed or was cancelled (jobs still queued are cancelled first).
        MotiflensClientError
            Any other service error.
        """
        started = time.perf_counter()
        say = _Reporter(progress)
        notes: list[str] = []
        info = self._dataset(client, say)
        dataset = {
            "dataset_id": info.dataset_id,
            "name": info.name,
            "num_train": info.num_train,
            "num_valid": info.num_valid,
            "num_test": info.num_test,
            "sequence_length": info.sequence_length,
            "num_targets": info.num_targets,
            "label_names": list(info.label_names),
            "seed": info.seed,
            "has_ground_truth": bool(info.has_ground_truth),
        }
        jobs = self._train_all(client, info.dataset_id, say)
        # Label 0 of every test row (Task 3: positives for interpretability and the example).
        labels = _first_label(client.read_split(info.dataset_id, "test").labels) if self.task == 3 else None
        runs = []
        for (model, activation, seed), job_info in jobs:
            label = f"{model}/{activation}/seed {seed}"
            say(f"interpreting {label} ({job_info.model_id})")
            runs.append(self._interpret(client, info, model, activation, seed, job_info, labels, say))
        example = None
        if self.task == 3 and runs:
            example = self._example(client, info, runs, labels, say)
        result = ExperimentResult(
            config=self.config(),
            dataset=dataset,
            runs=runs,
            example=example,
            notes=notes,
            seconds=time.perf_counter() - started,
        )
        # The store keeps the result next to its data set and models; the id is recorded
        # in the result itself (and so in results.json when it is saved locally).
        result.result_id = client.save_result(self.name or f"task{self.task} experiment", result.to_json())
        say(f"result stored as {result.result_id}")
        return result

    def _dataset(self, client, say):
        if self.dataset_id:
            info = client.get_dataset(self.dataset_id)
            say(f"data set {info.dataset_id} (reused): {_split_sizes(info)}")
        else:
            say(f"generating Task {self.task} ({self.num_sequences or 'default number of'} sequences)")
            info = client.create_task(
                self.task,
                num_sequences=self.num_sequences,
                seed=self.data_seed,
                name=f"{self.name or 'experiment'}-task{self.task}",
            )
            say(f"data set {info.dataset_id}: {_split_sizes(info)}")
        if not info.has_ground_truth:
            raise ValueError(
                f"dataset {info.dataset_id} has no ground truth; experiments need a synthetic task (1 or 3)"
            )
        return info

    def _train_all(self, client, dataset_id: str, say) -> list[tuple[tuple[str, str, int], Any]]:
        """Train the whole grid as one sweep, then wait for each job in grid order.

        A sweep runs in the trainer's worker processes, or as one Kubernetes Indexed Job
        when the trainer is deployed in a cluster; either way every job is an ordinary
        job whose epochs can be followed. On any failure the rest of the sweep is cancelled.
        """
        combos = self.combinations()
        sweep = client.sweep(
            dataset_id,
            architectures=list(self.models),
            activations=[(name, params) for _, name, params in self.activation_specs()],
            seeds=[int(seed) for seed in self.seeds],
            first_layer_l2=self.first_layer_l2,
            epochs=self.epochs,
            patience=self.patience,
            name=self.name or "experiment",
        )
        try:
            info = sweep.info()
            say(f"sweep {sweep.sweep_id}: {info.total} training job(s) ({info.executor} executor)")
            results = []
            for (model, activation, seed), job_id in zip(combos, info.job_ids, strict=True):
                say(f"training {model}/{activation}/seed {seed} ({job_id})")
                results.append(((model, activation, seed), client.job(job_id).wait(progress=say.enabled)))
            return results
        except BaseException:
            try:
                sweep.cancel()
            except Exception:  # noqa: BLE001 - best effort; the original error matters
                pass
            raise

    def _interpret(self, client, info, model, activation, seed, job_info, labels, say) -> RunResult:
        test = DatasetSplit(info.dataset_id, "test")
        filters = client.filters(job_info.model_id, test)
        match = client.match_filters(
            filters,
            num_filters=len(filters.filters),
            database=self.database,
            ground_truth=self.ground_truth,
        )
        filter_set = filter_set_from_match(filters, match)
        metrics = job_info.test_metrics
        run = RunResult(
            model=model,
            activation=activation,
            seed=seed,
            model_id=job_info.model_id,
            job_id=job_info.job_id,
            epochs=int(job_info.epochs_done),
            test_auroc=math.nan if metrics is None else float(metrics.auroc),
            test_aupr=math.nan if metrics is None else float(metrics.aupr),
            match_fraction=float(match.match_fraction),
            match_any_fraction=float(match.match_any_fraction),
            covered_tfs=tuple(match.covered_tfs),
            train_seconds=_job_seconds(job_info),
            filters=filter_set,
        )
        if self.trust_sequences:
            say("  trust report")
            report = client.trust_report(
                job_info.model_id,
                DatasetSplit(info.dataset_id, "test", limit=self.trust_sequences),
                positives_only=self.task == 3,
                database=self.database,
                timeout=LONG_CALL_TIMEOUT,
            )
            run.trust = json.loads(report.json)
        if self.task == 3:
            offset, limit = self._interpretability_rows(info, labels)
            rows = DatasetSplit(info.dataset_id, "test", offset, limit)
            for method in self.attribution_methods:
                say(f"  interpretability: {method}")
                score = client.interpretability(
                    job_info.model_id, rows, method=method, positives_only=True, timeout=LONG_CALL_TIMEOUT
                )
                run.interpretability[method] = InterpretabilityScore(
                    auroc=float(score.auroc),
                    auroc_std=float(score.auroc_std),
                    aupr=float(score.aupr),
                    aupr_std=float(score.aupr_std),
                    num_sequences=int(score.num_sequences),
                )
        return run

    def _interpretability_rows(self, info, labels: np.ndarray | None) -> tuple[int, int]:
        """Test rows [offset, offset + limit) holding about ``interpretability_limit`` positives.

        ``labels``: label 0 of every test row, shape (N,); without positives (or labels),
        the first ``2 × interpretability_limit`` rows.
        """
        if labels is not None:
            positives = np.flatnonzero(labels > 0.5)
            if len(positives):
                last = positives[min(self.interpretability_limit, len(positives)) - 1]
                return 0, int(last) + 1
        return 0, min(int(info.num_test), 2 * self.interpretability_limit)

    def _example(self, client, info, runs, labels: np.ndarray | None, say) -> ExampleSequence:
        """Pick the Fig. 2d sequence, attribute it with every model and method, read its ground truth."""
        index, selected_by = None, "label"
        if labels is not None:
            positives = np.flatnonzero(labels > 0.5)
            index = int(positives[0]) if len(positives) else None
        if index is None:
            selected_by = "prediction"
            count = min(int(info.num_test), 200)
            probabilities = client.predict(runs[0].model_id, DatasetSplit(info.dataset_id, "test", 0, count))
            above = np.flatnonzero(probabilities[:, 0] > 0.5)
            index = int(above[0]) if len(above) else int(np.argmax(probabilities[:, 0]))
        say(f"example sequence: test row {index} (chosen by {selected_by})")
        row = DatasetSplit(info.dataset_id, "test", index, 1)
        for run in runs:
            for method in ATTRIBUTION_METHODS:
                scores = client.attribute(run.model_id, row, method=method, timeout=LONG_CALL_TIMEOUT)
                run.attributions[method] = np.asarray(scores[0], dtype=np.float32)
        stored = client.read_split(info.dataset_id, "test", offset=index, limit=1, ground_truth=True)
        return ExampleSequence(
            index=index,
            selected_by=selected_by,
            one_hot=np.array(stored.one_hot[0], dtype=np.float32),
            one_hot_source="dataset",
            ground_truth=np.array(stored.ground_truth[0], dtype=np.float32),
        )


# --------------------------------------------------------------------------- helpers


class _Reporter:
    """Progress lines on stderr when enabled."""

    def __init__(self, enabled: bool):
        self.enabled = bool(enabled)

    def __call__(self, message: str) -> None:
        if self.enabled:
            sys.stderr.write(f"[experiment] {message}\n")
            sys.stderr.flush()


def _first_label(labels: np.ndarray) -> np.ndarray:
    """Label 0 of every row: (N, T) or (N,) -> (N,)."""
    return np.asarray(labels).reshape(len(labels), -1)[:, 0]


def _job_seconds(job_info) -> float:
    from datetime import datetime

    try:
        start = datetime.fromisoformat(job_info.started_at.replace("Z", "+00:00"))
        end = datetime.fromisoformat(job_info.finished_at.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return math.nan
    return (end - start).total_seconds()


def _split_sizes(info) -> str:
    return (
        f"{info.num_train}/{info.num_valid}/{info.num_test} train/valid/test sequences "
        f"of {info.sequence_length} nt, {info.num_targets} label(s)"
    )
