"""Result types of an experiment: one row per trained model, its filters, the Fig. 2d example.

An :class:`ExperimentResult` (what :meth:`Experiment.run
<motiflens_client.experiments.runner.Experiment.run>` returns) holds one
:class:`RunResult` per trained model plus the filter PWMs (:class:`FilterSet`, for
logos) and, for Task 3, one example sequence's attribution maps per run
(:class:`ExampleSequence`). :func:`filter_set_from_match` builds a :class:`FilterSet`
from the SDK's ``Client.filters`` and ``Client.match_filters`` answers.

Where things live
-----------------
The artifact store keeps the data set and the trained models (their ids are in
every row). The experiment's own results are saved locally with
:meth:`ExperimentResult.save` (``results.json`` + ``results.csv``), normally in
the same directory as the report that
:func:`motiflens_client.experiments.report.write_report` writes; the SDK has no RPC
to store arbitrary files.

Dependencies: numpy and the SDK; pandas is optional (:meth:`ExperimentResult.to_pandas`).
No TensorFlow and no motiflens core imports.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motiflens_client.types import Filters, MatchResult

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
FORMAT_VERSION = 1


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
    trust : dict
        The model's trust report (``Client.trust_report``, its JSON: filter match and
        chance, method agreement, reference and reverse-complement stability,
        off-simplex fraction, ground truth); empty when the experiment asked for none.
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
    trust: dict = field(default_factory=dict)

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
            "trust": self.trust,
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
            trust=dict(data.get("trust") or {}),
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


# --------------------------------------------------------------------------- helpers


def filter_set_from_match(filters: Filters, match: MatchResult) -> FilterSet:
    """Per-filter PWMs and hits from FilterMotifs + MatchFilters.

    Parameters
    ----------
    filters : Filters
        What ``Client.filters(model_id, rows)`` returned: F first-layer filters, each
        with a PWM of shape (W, 4), float64 (A, C, G, T) and its aligned site count. Any
        order; the result follows the filter index.
    match : MatchResult
        What ``Client.match_filters(filters, ...)`` returned for the same filters: the
        Tomtom hits (``query_id`` ``"filter<index>"``; other query ids are ignored) and
        ``matches`` (filter index -> ground-truth TFs).

    Returns
    -------
    FilterSet
        ``pwms`` of shape (F, W, 4), float64, in filter-index order ((0, 0, 4) when F is 0;
        filters of unequal width are padded to the widest with uniform 0.25 columns), and
        per-filter tuples of length F: site counts, the id, name and E-value of the
        lowest-E-value hit ("", "", NaN when none), every hit id (first-seen order) and the
        ground-truth TFs matched (empty when none).
    """
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


class _LineSink:
    """File-like object collecting csv output in memory."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)


def _filter_index(query_id: str) -> int | None:
    if query_id.startswith("filter") and query_id[6:].isdigit():
        return int(query_id[6:])
    return None


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
