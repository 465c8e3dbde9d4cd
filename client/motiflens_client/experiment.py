"""Experiment runner: the paper's activation comparison through the services, with the SDK only.

An :class:`Experiment` reproduces one block of Koo & Ploenzke (2021): it makes (or
reuses) a synthetic data set, trains every (model, activation, seed) combination
on the trainer, turns each model's first-layer filters into motifs on the test
split, matches them against JASPAR with Tomtom, and for Task 3 scores every
attribution method against the ground truth. The outcome is an
:class:`ExperimentResult`: one row per trained model plus the filter PWMs (for
logos) and, for Task 3, one example sequence's attribution maps per run.

Where things live
-----------------
The artifact store keeps the data set and the trained models (their ids are in
every row). The experiment's own results are saved locally with
:meth:`ExperimentResult.save` (``results.json`` + ``results.csv``), normally in
the same directory as the report that :func:`motiflens_client.report.write_report`
writes; the SDK has no RPC to store arbitrary files.

Ground truth for the Fig. 2d logo
---------------------------------
The test labels, the example sequence and its ground-truth sequence model come
through the API (``Client.read_split``, i.e. ``TrainerService.ReadSplit``), wherever
the store is; the runner never reads the store's layout. The example is the first
positive test sequence (the first one the first model predicts positive when the
split holds no positive label).

Dependencies: numpy and the SDK; pandas is optional (:meth:`ExperimentResult.to_pandas`).
No TensorFlow and no motiflens core imports.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motiflens_client.types import DatasetSplit, Filters, MatchResult
from motiflens_client.wire.vocabulary import METHOD_NAMES, activation_label

#: Attribution methods of the paper, in its order.
ATTRIBUTION_METHODS = METHOD_NAMES

#: Task 3's core TFs and the JASPAR 2016 ids that count as each (PAPER-NOTES).
TASK3_GROUND_TRUTH: Mapping[str, tuple[str, ...]] = {
    "SP1": ("MA0079.1", "MA0079.2", "MA0079.3"),
    "Gabpa": ("MA0062.1", "MA0062.2"),
    "CEBPB": ("MA0466.1", "MA0466.2"),
    "MAX": ("MA0058.1", "MA0058.2", "MA0058.3"),
    "YY1": ("MA0095.1", "MA0095.2"),
}

#: Number of TFs behind each task's ground truth (Task 1: the 12 motifs of the paper).
GROUND_TRUTH_TF_COUNT = {1: 12, 3: len(TASK3_GROUND_TRUTH)}

#: Hits to this motif do not count as "any JASPAR" (it hits noise; the authors discounted it).
NOISE_MOTIF_IDS = frozenset({"MA0615.1"})

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
FORMAT_VERSION = 1

#: Deadline (seconds) for the long interpreter calls (interpretability of hundreds of sequences).
LONG_CALL_TIMEOUT = 3600.0


# --------------------------------------------------------------------------- result types


@dataclass
class FilterSet:
    """First-layer filters of one trained model, as motifs with their Tomtom hits.

    Attributes
    ----------
    pwms : np.ndarray, shape (F, W, 4), float64
        Position probability matrices (A, C, G, T) from activation alignment on the test split.
    num_sites : tuple of int, length F
        Aligned sites per filter (0: the filter never fired; its PWM is uniform).
    best_hit_ids, best_hit_names : tuple of str, length F
        JASPAR id and name of each filter's lowest-E-value Tomtom hit ("" when none).
    best_hit_evalues : tuple of float, length F
        E-value of that hit (NaN when none).
    hit_ids : tuple of tuple of str, length F
        Every significant hit's id per filter.
    ground_truth_tfs : tuple of tuple of str, length F
        Ground-truth TFs each filter matched (empty when none).
    """

    pwms: np.ndarray
    num_sites: tuple[int, ...]
    best_hit_ids: tuple[str, ...]
    best_hit_names: tuple[str, ...]
    best_hit_evalues: tuple[float, ...]
    hit_ids: tuple[tuple[str, ...], ...]
    ground_truth_tfs: tuple[tuple[str, ...], ...]

    @property
    def num_filters(self) -> int:
        """F, the number of first-layer filters."""
        return int(self.pwms.shape[0])

    def label(self, index: int) -> str:
        """Short caption of filter ``index``: its best hit's name, or "-" when none."""
        return self.best_hit_names[index] or "-"

    def to_json(self) -> dict:
        """JSON-ready dict (arrays as nested lists)."""
        return {
            "pwms": self.pwms.tolist(),
            "num_sites": list(self.num_sites),
            "best_hit_ids": list(self.best_hit_ids),
            "best_hit_names": list(self.best_hit_names),
            "best_hit_evalues": [_json_float(value) for value in self.best_hit_evalues],
            "hit_ids": [list(ids) for ids in self.hit_ids],
            "ground_truth_tfs": [list(tfs) for tfs in self.ground_truth_tfs],
        }

    @classmethod
    def from_json(cls, data: Mapping) -> FilterSet:
        """Inverse of :meth:`to_json`."""
        pwms = np.asarray(data["pwms"], dtype=np.float64)
        if pwms.size == 0:
            pwms = pwms.reshape(0, 0, 4)
        return cls(
            pwms=pwms,
            num_sites=tuple(int(value) for value in data["num_sites"]),
            best_hit_ids=tuple(data["best_hit_ids"]),
            best_hit_names=tuple(data["best_hit_names"]),
            best_hit_evalues=tuple(_float(value) for value in data["best_hit_evalues"]),
            hit_ids=tuple(tuple(ids) for ids in data["hit_ids"]),
            ground_truth_tfs=tuple(tuple(tfs) for tfs in data["ground_truth_tfs"]),
        )


@dataclass
class InterpretabilityScore:
    """Interpretability of one attribution method for one model (mean ± sd over sequences).

    Attributes
    ----------
    auroc, auroc_std, aupr, aupr_std : float
        Per-sequence AUROC/AUPR of the position scores against the ground-truth motif positions.
    num_sequences : int
        Positive test sequences scored.
    """

    auroc: float
    auroc_std: float
    aupr: float
    aupr_std: float
    num_sequences: int


@dataclass
class RunResult:
    """One trained model: its identity, classification metrics and filter statistics.

    Attributes
    ----------
    model, activation : str
        Architecture and first-layer activation.
    seed : int
        Model seed (initialisation, dropout, batch order).
    model_id, job_id : str
        Ids in the artifact store / trainer.
    epochs : int
        Epochs trained (early stopping may end a run before the maximum).
    test_auroc, test_aupr : float
        Test metrics of the best-validation weights (mean over labels for Task 1).
    match_fraction : float
        Filters with a Tomtom hit (E < threshold) to a ground-truth TF / all filters.
    match_any_fraction : float
        Filters with any JASPAR hit (MA0615.1 Gmeb1 excluded) / all filters.
    covered_tfs : tuple of str
        Ground-truth TFs matched by at least one filter.
    interpretability : dict of str to InterpretabilityScore
        Per attribution method (Task 3 only; empty otherwise).
    train_seconds : float
        Wall time of the training job (NaN when the trainer did not record it).
    filters : FilterSet, optional
        The filters with their hits (for logos).
    attributions : dict of str to np.ndarray, shape (L, 4)
        Task 3: the example sequence's raw attribution map per method, as the interpreter
        returned it (saliency not multiplied by the input; ISM: Δ logit per substitution).
    """

    model: str
    activation: str
    seed: int
    model_id: str
    job_id: str
    epochs: int
    test_auroc: float
    test_aupr: float
    match_fraction: float
    match_any_fraction: float
    covered_tfs: tuple[str, ...]
    interpretability: dict[str, InterpretabilityScore] = field(default_factory=dict)
    train_seconds: float = math.nan
    filters: FilterSet | None = None
    attributions: dict[str, np.ndarray] = field(default_factory=dict)

    def to_json(self) -> dict:
        """JSON-ready dict (arrays as nested lists, NaN as null)."""
        return {
            "model": self.model,
            "activation": self.activation,
            "seed": self.seed,
            "model_id": self.model_id,
            "job_id": self.job_id,
            "epochs": self.epochs,
            "test_auroc": _json_float(self.test_auroc),
            "test_aupr": _json_float(self.test_aupr),
            "match_fraction": _json_float(self.match_fraction),
            "match_any_fraction": _json_float(self.match_any_fraction),
            "covered_tfs": list(self.covered_tfs),
            "interpretability": {
                method: {key: _json_float(value) for key, value in dataclasses.asdict(score).items()}
                for method, score in self.interpretability.items()
            },
            "train_seconds": _json_float(self.train_seconds),
            "filters": None if self.filters is None else self.filters.to_json(),
            "attributions": {method: scores.tolist() for method, scores in self.attributions.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping) -> RunResult:
        """Inverse of :meth:`to_json`."""
        return cls(
            model=data["model"],
            activation=data["activation"],
            seed=int(data["seed"]),
            model_id=data["model_id"],
            job_id=data["job_id"],
            epochs=int(data["epochs"]),
            test_auroc=_float(data["test_auroc"]),
            test_aupr=_float(data["test_aupr"]),
            match_fraction=_float(data["match_fraction"]),
            match_any_fraction=_float(data["match_any_fraction"]),
            covered_tfs=tuple(data["covered_tfs"]),
            interpretability={
                method: InterpretabilityScore(
                    auroc=_float(score["auroc"]),
                    auroc_std=_float(score["auroc_std"]),
                    aupr=_float(score["aupr"]),
                    aupr_std=_float(score["aupr_std"]),
                    num_sequences=int(score["num_sequences"]),
                )
                for method, score in data.get("interpretability", {}).items()
            },
            train_seconds=_float(data.get("train_seconds")),
            filters=None if data.get("filters") is None else FilterSet.from_json(data["filters"]),
            attributions={
                method: np.asarray(scores, dtype=np.float32)
                for method, scores in data.get("attributions", {}).items()
            },
        )


@dataclass
class ExampleSequence:
    """The Task 3 sequence whose attribution maps the report draws (paper Fig. 2d).

    Attributes
    ----------
    index : int
        Row in the test split.
    selected_by : str
        "label" (first positive test sequence, labels read with ``Client.read_split``) or
        "prediction" (first test sequence the first model predicts positive, when no
        test label is positive).
    one_hot : np.ndarray, shape (L, 4), float32
        The sequence (A, C, G, T).
    one_hot_source : str
        "dataset" (read from the data set with ``Client.read_split``); results saved by
        older versions may say "attribution" (recovered from the maps, all-zero columns
        where that failed).
    ground_truth : np.ndarray, shape (L, 4), float32, optional
        Ground-truth sequence model (per-position probabilities); None only in results
        saved by older versions without it.
    """

    index: int
    selected_by: str
    one_hot: np.ndarray
    one_hot_source: str
    ground_truth: np.ndarray | None = None

    def to_json(self) -> dict:
        """JSON-ready dict."""
        return {
            "index": self.index,
            "selected_by": self.selected_by,
            "one_hot": self.one_hot.tolist(),
            "one_hot_source": self.one_hot_source,
            "ground_truth": None if self.ground_truth is None else self.ground_truth.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> ExampleSequence:
        """Inverse of :meth:`to_json`."""
        truth = data.get("ground_truth")
        return cls(
            index=int(data["index"]),
            selected_by=data["selected_by"],
            one_hot=np.asarray(data["one_hot"], dtype=np.float32),
            one_hot_source=data["one_hot_source"],
            ground_truth=None if truth is None else np.asarray(truth, dtype=np.float32),
        )


#: Metrics summarised by :meth:`ExperimentResult.summary_by_activation`.
_SUMMARY_FIELDS = ("test_auroc", "test_aupr", "match_fraction", "match_any_fraction")


@dataclass
class ExperimentResult:
    """Everything an :class:`Experiment` produced; see :meth:`table` and :meth:`save`.

    Attributes
    ----------
    config : dict
        The experiment's settings (task, models, activations, seeds, sizes, epochs,
        patience, database, attribution methods, interpretability limit, name).
    dataset : dict
        The data set used: ``dataset_id``, ``num_train``, ``num_valid``, ``num_test``,
        ``sequence_length``, ``num_targets``, ``label_names``, ``seed``.
    runs : list of RunResult
        One per (model, activation, seed), in that nesting order.
    example : ExampleSequence, optional
        Task 3's example sequence (None for Task 1).
    notes : list of str
        What the runner could not do and why.
    seconds : float
        Wall time of :meth:`Experiment.run`.
    result_id : str
        Id of the copy saved in the artifact store by :meth:`Experiment.run`
        (``client.get_result(result_id)`` returns :meth:`to_json`); "" when not saved.
    """

    config: dict
    dataset: dict
    runs: list[RunResult]
    example: ExampleSequence | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = math.nan
    result_id: str = ""

    @property
    def task(self) -> int:
        """1 or 3."""
        return int(self.config["task"])

    @property
    def attribution_methods(self) -> tuple[str, ...]:
        """Methods scored (Task 3), in the configured order."""
        return tuple(self.config.get("attribution_methods", ()))

    def table(self) -> list[dict[str, Any]]:
        """One flat dict per run (the columns of ``results.csv``).

        Returns
        -------
        list of dict
            Keys: model, activation, seed, model_id, job_id, epochs, test_auroc,
            test_aupr, match_fraction, match_any_fraction, num_filters, covered_tfs
            (";"-joined), train_seconds and, for Task 3, ``<method>_auroc`` and
            ``<method>_aupr`` per attribution method (NaN when not scored).
        """
        methods = self.attribution_methods if self.task == 3 else ()
        rows = []
        for run in self.runs:
            row: dict[str, Any] = {
                "model": run.model,
                "activation": run.activation,
                "seed": run.seed,
                "model_id": run.model_id,
                "job_id": run.job_id,
                "epochs": run.epochs,
                "test_auroc": run.test_auroc,
                "test_aupr": run.test_aupr,
                "match_fraction": run.match_fraction,
                "match_any_fraction": run.match_any_fraction,
                "num_filters": 0 if run.filters is None else run.filters.num_filters,
                "covered_tfs": ";".join(run.covered_tfs),
                "train_seconds": run.train_seconds,
            }
            for method in methods:
                score = run.interpretability.get(method)
                row[f"{method}_auroc"] = math.nan if score is None else score.auroc
                row[f"{method}_aupr"] = math.nan if score is None else score.aupr
            rows.append(row)
        return rows

    def to_pandas(self):
        """:meth:`table` as a pandas DataFrame.

        Raises
        ------
        ImportError
            pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas (pip install pandas); table() does not") from exc
        return pd.DataFrame(self.table())

    def summary_by_activation(self) -> list[dict[str, Any]]:
        """Mean and standard deviation over seeds per (model, activation).

        The standard deviation is the sample one (ddof 1) over seeds; 0 for a single seed.

        Returns
        -------
        list of dict
            Keys: model, activation, n (runs), and ``<metric>_mean`` / ``<metric>_sd``
            for test_auroc, test_aupr, match_fraction, match_any_fraction and, for
            Task 3, ``<method>_auroc`` and ``<method>_aupr``. Groups keep the order
            of first appearance (model, then activation).
        """
        table = self.table()
        metrics = list(_SUMMARY_FIELDS)
        if self.task == 3:
            metrics += [
                f"{method}_{kind}" for method in self.attribution_methods for kind in ("auroc", "aupr")
            ]
        groups: dict[tuple[str, str], list[dict]] = {}
        for row in table:
            groups.setdefault((row["model"], row["activation"]), []).append(row)
        summary = []
        for (model, activation), rows in groups.items():
            entry: dict[str, Any] = {"model": model, "activation": activation, "n": len(rows)}
            for metric in metrics:
                mean, sd = _mean_sd([row[metric] for row in rows])
                entry[f"{metric}_mean"] = mean
                entry[f"{metric}_sd"] = sd
            summary.append(entry)
        return summary

    def to_json(self) -> dict:
        """JSON-ready dict of the whole result (what ``results.json`` holds)."""
        return {
            "format_version": FORMAT_VERSION,
            "config": self.config,
            "dataset": self.dataset,
            "runs": [run.to_json() for run in self.runs],
            "example": None if self.example is None else self.example.to_json(),
            "notes": list(self.notes),
            "seconds": _json_float(self.seconds),
            "result_id": self.result_id,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> ExperimentResult:
        """Inverse of :meth:`to_json`.

        Raises
        ------
        ValueError
            ``data`` was written by a newer format version.
        """
        version = int(data.get("format_version", 0))
        if version > FORMAT_VERSION:
            raise ValueError(
                f"results format version {version} is newer than this SDK's ({FORMAT_VERSION}); upgrade"
            )
        example = data.get("example")
        return cls(
            config=dict(data["config"]),
            dataset=dict(data["dataset"]),
            runs=[RunResult.from_json(run) for run in data["runs"]],
            example=None if example is None else ExampleSequence.from_json(example),
            notes=list(data.get("notes", [])),
            seconds=_float(data.get("seconds")),
            result_id=str(data.get("result_id", "")),
        )

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``results.json`` (everything) and ``results.csv`` (:meth:`table`) into ``directory``.

        Parameters
        ----------
        directory : str or path-like
            Created (with parents) if missing; existing results files are replaced.

        Returns
        -------
        Path
            The path of ``results.json``.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / RESULTS_JSON
        _write_atomic(json_path, json.dumps(self.to_json(), indent=1, allow_nan=False))
        table = self.table()
        columns = list(table[0]) if table else ["model", "activation", "seed"]
        lines: list[str] = []
        writer = csv.DictWriter(_LineSink(lines), fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
        _write_atomic(directory / RESULTS_CSV, "".join(lines))
        return json_path

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ExperimentResult:
        """Read a result written by :meth:`save`.

        Parameters
        ----------
        directory : str or path-like
            The directory holding ``results.json``.

        Raises
        ------
        FileNotFoundError
            No ``results.json`` in ``directory``.
        """
        path = Path(directory) / RESULTS_JSON
        return cls.from_json(json.loads(path.read_text()))


# --------------------------------------------------------------------------- the runner


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
        filter_set = _filter_set(filters, match)
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


class _LineSink:
    """File-like object collecting csv output in memory."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)


def _first_label(labels: np.ndarray) -> np.ndarray:
    """Label 0 of every row: (N, T) or (N,) -> (N,)."""
    return np.asarray(labels).reshape(len(labels), -1)[:, 0]


def _filter_index(query_id: str) -> int | None:
    if query_id.startswith("filter") and query_id[6:].isdigit():
        return int(query_id[6:])
    return None


def _filter_set(filters: Filters, match: MatchResult) -> FilterSet:
    """Per-filter PWMs and hits from FilterMotifs + MatchFilters."""
    order = sorted(filters.filters, key=lambda item: item.index)
    position = {item.index: i for i, item in enumerate(order)}
    count = len(order)
    best: list[tuple[float, str, str] | None] = [None] * count
    hit_ids: list[list[str]] = [[] for _ in range(count)]
    for hit in match.hits:
        index = _filter_index(hit.query_id)
        if index is None or index not in position:
            continue
        i = position[index]
        if hit.target_id not in hit_ids[i]:
            hit_ids[i].append(hit.target_id)
        current = best[i]
        if current is None or hit.e_value < current[0]:
            best[i] = (float(hit.e_value), hit.target_id, hit.target_name)
    widths = {np.asarray(item.pwm).shape[0] for item in order}
    if len(widths) == 1:
        pwms = np.stack([np.asarray(item.pwm, dtype=np.float64) for item in order])
    elif not order:
        pwms = np.zeros((0, 0, 4))
    else:  # pad to the widest filter with uniform columns (not expected: one window for all)
        width = max(widths)
        pwms = np.full((count, width, 4), 0.25)
        for i, item in enumerate(order):
            pwm = np.asarray(item.pwm, dtype=np.float64)
            pwms[i, : pwm.shape[0]] = pwm
    return FilterSet(
        pwms=pwms,
        num_sites=tuple(int(item.num_sites) for item in order),
        best_hit_ids=tuple("" if b is None else b[1] for b in best),
        best_hit_names=tuple("" if b is None else b[2] for b in best),
        best_hit_evalues=tuple(math.nan if b is None else b[0] for b in best),
        hit_ids=tuple(tuple(ids) for ids in hit_ids),
        ground_truth_tfs=tuple(tuple(match.matches.get(item.index, ())) for item in order),
    )


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


def _mean_sd(values: Iterable[float]) -> tuple[float, float]:
    array = np.asarray([value for value in values if not _isnan(value)], dtype=np.float64)
    if array.size == 0:
        return math.nan, math.nan
    sd = float(np.std(array, ddof=1)) if array.size > 1 else 0.0
    return float(np.mean(array)), sd


def _isnan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _json_float(value) -> float | None:
    """Float for JSON; NaN and None become null."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _float(value) -> float:
    """Inverse of :func:`_json_float`."""
    return math.nan if value is None else float(value)


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
