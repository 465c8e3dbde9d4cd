"""Reproduce Koo & Ploenzke (2021) through the motiflens services and compare with the paper.

``make reproduce BUDGET=small`` (or ``python bench/reproduce.py --budget small``)
runs the paper's experiments through the Python SDK and the three services (started
on loopback with ``Client.local``, or already running with ``--address``), never
around them:

1. ``task1``: CNN-2 / CNN-50 / CNN-deep × first-layer activations on Task 1:
   test AUROC/AUPR, fraction of filters matching a ground-truth motif and any
   JASPAR motif (Tomtom, E < 0.1) — Fig. 1c, Supplementary Table 2.
2. ``localization``: motif localisation AUROC of the CNN-deep exponential and relu
   first-layer scans and of the ground-truth PWM scan on the Task 1 test set.
3. ``modified``: modified activations on CNN-deep (Extended Data Fig. 1a-b).
4. ``task3``: CNN-local / CNN-dist × activations on Task 3: classification AUROC and
   interpretability AUROC/AUPR of saliency, ISM, integrated gradients and DeepSHAP.
5. ``task6``: ResidualBind, exponential and relu, on the IRF1 ChIP-seq data
   (training split reverse-complement augmented, as the paper): test AUROC, IRF motifs
   among the first-layer filters, and among the saliency maps' top windows.
6. ``scaling``: exp(s·x) input scaling on CNN-deep (Supplementary Table 6).

The size of each step is set by a budget (:data:`BUDGETS`: ``tiny`` for the test,
``small`` for about an hour on 2 cores, ``paper`` for the paper's protocol). A step a
budget leaves out is recorded as "not in budget", and claims that need it are "not
evaluated (budget)".

Output (``--output``, default ``reproduce-output/``)::

    results.json        every figure (per-seed values, mean, sd, the paper's value),
                        the claims, budget, date, machine and versions
    reproduce.html      the comparison with the paper and the plots (figures/*.png)
    experiments/<name>/ each experiment's full result (results.json, results.csv)
    store/              the local services' artifact store (data sets, models)

The claims table is printed at the end. Exit status: 0 when every step in the
budget ran (whatever the claims say), 1 when a step failed, 2 on bad usage.

Task 6 rules (written into the results and the report):

- "IRF family" = a JASPAR motif whose name starts with "IRF" (JASPAR 2016 CORE
  vertebrates: IRF1, IRF2, IRF7, IRF8, IRF9).
- Top filters: the first-layer filters ranked by the standardised difference
  (Cohen's d) of their per-sequence maximum activation between positive and negative
  test sequences; the top 5 are checked for an IRF hit.
- Saliency windows: saliency × input of the logit, summed over the 4 bases per
  position, summed over each 19-nt window; the highest-scoring window of each
  positive test sequence, as a one-hot PWM, is compared with Tomtom (E < 0.1) against
  JASPAR 2016; it "matches an IRF motif" when any hit is IRF family. The control
  applies the same rule to one random 19-nt window per sequence (seeded, model-free).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from reproduce_claims import PAPER_REFERENCES, REFERENCES, check_claims, figure_key, format_claims, summarize

FORMAT_VERSION = 1
RESULTS_JSON = "results.json"
REPORT_HTML = "reproduce.html"
EXPERIMENTS_DIR = "experiments"
DEFAULT_IRF1 = Path(__file__).resolve().parents[2] / "shared" / "data" / "IRF1_400_h3k27ac.h5"

#: The standard activations of the paper (Fig. 1a), exponential first.
STANDARD_ACTIVATIONS = ("exponential", "relu", "sigmoid", "tanh", "softplus", "linear", "elu")
#: Modified activations and ablations on CNN-deep (Extended Data Fig. 1a-b, Supplementary Table 5).
MODIFIED_ACTIVATIONS = (
    "shift_scale_relu",
    "shift_scale_tanh",
    "shift_scale_sigmoid",
    "exp_relu",
    "shift_relu",
    "scale_relu",
    "shift_tanh",
    "scale_tanh",
    "shift_sigmoid",
    "scale_sigmoid",
    "super_relu",
    "log_relu",
)
#: First-layer L2 of log_relu, and the label of the paper's control (relu with that L2).
LOG_RELU_L2 = 0.2
LOG_RELU_CONTROL = f"relu(first_layer_l2={LOG_RELU_L2:g})"
#: Scales s of exp(s·x) (Supplementary Table 6).
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Per-model Task 1 metrics written as figures.
TASK1_METRICS = ("test_auroc", "test_aupr", "match_fraction", "match_any_fraction", "epochs")
#: Task 6: IRF-family motifs are those whose name starts with this (case-insensitive).
IRF_PREFIX = "IRF"
#: Task 6: window (nt) of the saliency-map motif search: the first-layer filter width.
WINDOW = 19
#: Task 6: first-layer filters checked for an IRF hit, ranked by positive-vs-negative activation.
TOP_FILTERS = 5
#: Deadline (seconds) of single long calls (localisation of a full test set, Tomtom of hundreds).
LONG_CALL_TIMEOUT = 3600.0
STEPS = ("task1", "localization", "modified", "task3", "task6", "scaling")


# --------------------------------------------------------------------------- budgets


@dataclass(frozen=True)
class Budget:
    """How much of the paper's protocol one run covers.

    Attributes
    ----------
    name, description : str
    seeds : tuple of int
        Model seeds of the Task 1 grid and Task 3 (the paper: 10).
    task1_sequences, task1_epochs, task1_patience : int
        Task 1 size (split 0.7/0.1/0.2), maximum epochs and early-stopping patience;
        also used by the modified-activation and scaling steps on the same data set.
    task1_grid : tuple of (str, tuple of str)
        (architecture, activations) pairs; localisation needs cnn_deep with
        exponential and relu.
    modified_activations : tuple of str
        Empty: the step is not in the budget.
    modified_seeds : tuple of int
    scaling_scales : tuple of float
        Empty: the step is not in the budget.
    scaling_seeds : tuple of int
    task3_sequences, task3_epochs, task3_patience : int
    task3_models, task3_activations : tuple of str
    task3_seeds : tuple of int
    interpretability_positives : int
        Positive Task 3 test sequences scored per attribution method (the paper: 500).
    task6_activations : tuple of str
    task6_seeds : tuple of int
    task6_epochs, task6_patience : int
    task6_subsample : tuple of (int, int, int) or None
        (train, valid, test) rows taken from the IRF1 file (None: all of it).
    task6_positives : int
        Positive test sequences whose saliency windows are searched (0: all).
    report_brief : bool
        Draw at most 8 filter logos per model and Task 3 attribution logos for the
        exponential models only (logomaker takes about 0.17 s per logo; for the test).
    """

    name: str
    description: str
    seeds: tuple[int, ...]
    task1_sequences: int
    task1_epochs: int
    task1_patience: int
    task1_grid: tuple[tuple[str, tuple[str, ...]], ...]
    modified_activations: tuple[str, ...]
    modified_seeds: tuple[int, ...]
    scaling_scales: tuple[float, ...]
    scaling_seeds: tuple[int, ...]
    task3_sequences: int
    task3_epochs: int
    task3_patience: int
    task3_models: tuple[str, ...]
    task3_activations: tuple[str, ...]
    task3_seeds: tuple[int, ...]
    interpretability_positives: int
    task6_activations: tuple[str, ...]
    task6_seeds: tuple[int, ...]
    task6_epochs: int
    task6_patience: int
    task6_subsample: tuple[int, int, int] | None
    task6_positives: int
    report_brief: bool = False

    def to_json(self) -> dict:
        """JSON-ready dict of every setting."""
        data = dataclasses.asdict(self)
        data["task1_grid"] = {model: list(activations) for model, activations in self.task1_grid}
        return data

    def in_budget(self, step: str) -> bool:
        """Whether ``step`` runs at this budget (the others are recorded as "not in budget")."""
        if step == "modified":
            return bool(self.modified_activations)
        if step == "scaling":
            return bool(self.scaling_scales)
        if step == "task3":
            return bool(self.task3_models and self.task3_activations)
        if step == "task6":
            return bool(self.task6_activations)
        if step == "localization":
            return {"exponential", "relu"} <= set(dict(self.task1_grid).get("cnn_deep", ()))
        return True

    def settings_lines(self) -> list[str]:
        """The settings, one human-readable line per step."""
        grid = "; ".join(f"{model} × {', '.join(acts)}" for model, acts in self.task1_grid)
        seeds = _seeds_text(self.seeds)
        lines = [
            f"budget {self.name}: {self.description}",
            f"task1: {self.task1_sequences} sequences, {grid}, seeds {seeds}, "
            f"up to {self.task1_epochs} epochs (patience {self.task1_patience})",
            "localization: the Task 1 CNN-deep exponential and relu models, whole test set, "
            "with the ground-truth PWM scan",
        ]
        control = ""
        if "log_relu" in self.modified_activations:
            control = f" (+ the log_relu control, {LOG_RELU_CONTROL})"
        lines.append(
            f"modified: cnn_deep × {', '.join(self.modified_activations)}{control}, seeds "
            f"{_seeds_text(self.modified_seeds)}"
            if self.modified_activations
            else "modified: not in this budget"
        )
        lines.append(
            f"task3: {self.task3_sequences} sequences, {', '.join(self.task3_models)} × "
            f"{', '.join(self.task3_activations)}, seeds {_seeds_text(self.task3_seeds)}, up to "
            f"{self.task3_epochs} epochs (patience {self.task3_patience}), interpretability on "
            f"{self.interpretability_positives} positive test sequences"
        )
        subsample = (
            "the whole IRF1 file"
            if self.task6_subsample is None
            else "a subsample of the IRF1 file ({}/{}/{} train/valid/test)".format(*self.task6_subsample)
        )
        lines.append(
            f"task6: residualbind × {', '.join(self.task6_activations)} on {subsample} (training split "
            f"reverse-complement augmented), seeds {_seeds_text(self.task6_seeds)}, up to "
            f"{self.task6_epochs} epochs (patience {self.task6_patience}), saliency windows of "
            f"{self.task6_positives or 'all'} positive test sequences"
        )
        lines.append(
            f"scaling: cnn_deep × exp(s·x), s in {', '.join(f'{s:g}' for s in self.scaling_scales)}, seeds "
            f"{_seeds_text(self.scaling_seeds)}"
            if self.scaling_scales
            else "scaling: not in this budget"
        )
        return lines


_PAPER_SEEDS = tuple(range(10))

#: The budgets. ``small`` is sized from measured epoch times on the 2-core development
#: machine (CNN-deep on 21,000 Task 1 training sequences: about 9.5 s per epoch; CNN-50
#: about 3 s; CNN-local 1.2 s and CNN-dist 3 s on 14,000 Task 3 sequences; ResidualBind
#: about 2 s on the 5,448 augmented IRF1 sequences): about 45 minutes of training and
#: interpretation when the machine is otherwise idle. The paper trained up to 100 epochs
#: with 10 seeds (Tasks 1-3) and one model per activation (Tasks 4-6).
BUDGETS: dict[str, Budget] = {
    "tiny": Budget(
        name="tiny",
        description="smoke test (the test suite): two epochs, one seed, a few hundred sequences; "
        "the numbers mean nothing",
        seeds=(0,),
        task1_sequences=300,
        task1_epochs=2,
        task1_patience=2,
        task1_grid=(("cnn_deep", ("exponential", "relu")),),
        modified_activations=("shift_scale_relu", "log_relu"),
        modified_seeds=(0,),
        scaling_scales=(0.5,),
        scaling_seeds=(0,),
        task3_sequences=300,
        task3_epochs=2,
        task3_patience=2,
        task3_models=("cnn_local",),
        task3_activations=("exponential", "relu"),
        task3_seeds=(0,),
        interpretability_positives=6,
        task6_activations=("exponential", "relu"),
        task6_seeds=(0,),
        task6_epochs=2,
        task6_patience=2,
        task6_subsample=(240, 60, 80),
        task6_positives=16,
        report_brief=True,
    ),
    "small": Budget(
        name="small",
        description="about an hour on a 2-core machine: the paper's data sizes, 3 seeds, "
        "up to 20 (Task 1) / 15 (Task 3) / 30 (Task 6) epochs, exponential and relu only "
        "(plus two modified activations); the paper: 10 seeds, up to 100 epochs, all activations",
        seeds=(0, 1, 2),
        task1_sequences=30_000,
        task1_epochs=20,
        task1_patience=6,
        task1_grid=(("cnn_deep", ("exponential", "relu")), ("cnn_50", ("exponential", "relu"))),
        modified_activations=("shift_scale_relu", "exp_relu"),
        modified_seeds=(0,),
        scaling_scales=(),
        scaling_seeds=(),
        task3_sequences=20_000,
        task3_epochs=15,
        task3_patience=6,
        task3_models=("cnn_local", "cnn_dist"),
        task3_activations=("exponential", "relu"),
        task3_seeds=(0, 1, 2),
        interpretability_positives=500,
        task6_activations=("exponential", "relu"),
        task6_seeds=(0,),
        task6_epochs=30,
        task6_patience=8,
        task6_subsample=None,
        task6_positives=0,
    ),
    "paper": Budget(
        name="paper",
        description="the paper's protocol: 10 seeds, up to 100 epochs with early stopping "
        "(patience 20), every activation (a GPU machine or a cluster sweep)",
        seeds=_PAPER_SEEDS,
        task1_sequences=30_000,
        task1_epochs=100,
        task1_patience=20,
        task1_grid=tuple((model, STANDARD_ACTIVATIONS) for model in ("cnn_2", "cnn_50", "cnn_deep")),
        modified_activations=MODIFIED_ACTIVATIONS,
        modified_seeds=_PAPER_SEEDS,
        scaling_scales=SCALES,
        scaling_seeds=_PAPER_SEEDS,
        task3_sequences=20_000,
        task3_epochs=100,
        task3_patience=20,
        task3_models=("cnn_local", "cnn_dist"),
        task3_activations=STANDARD_ACTIVATIONS,
        task3_seeds=_PAPER_SEEDS,
        interpretability_positives=500,
        task6_activations=("exponential", "relu"),
        task6_seeds=(0,),
        task6_epochs=100,
        task6_patience=20,
        task6_subsample=None,
        task6_positives=0,
    ),
}


# --------------------------------------------------------------------------- the run


class StepSkipped(Exception):
    """A step cannot run here (e.g. the IRF1 file is missing); recorded, not an error."""


class Reproduction:
    """Runs the budget's steps through one client and collects figures, details and notes.

    Parameters
    ----------
    client : motiflens_client.Client
    budget : Budget
    output : Path
        The output folder (experiments are saved under ``experiments/``).
    irf1 : Path or None
        The Task 6 HDF5 file.
    progress : bool
        Per-step and per-epoch progress on stderr.
    """

    def __init__(
        self,
        client: Any,
        budget: Budget,
        output: Path,
        *,
        irf1: Path | None,
        progress: bool,
    ) -> None:
        self.client = client
        self.budget = budget
        self.output = output
        self.irf1 = irf1
        self.progress = progress
        self.figures: dict[str, dict] = {}
        self.steps: dict[str, dict] = {}
        self.experiments: dict[str, list[str]] = {}
        self.details: dict[str, Any] = {}
        self.notes: list[str] = []
        self._task1_dataset: str | None = None
        self._task1_runs: list = []
        self.on_step_end: Callable[[], None] | None = None

    # ------------------------------------------------------------------ driver

    def run(self) -> None:
        """Run every step of :data:`STEPS` (each one's failure is recorded and the next runs)."""
        functions = {
            "task1": self.task1,
            "localization": self.localization,
            "modified": self.modified,
            "task3": self.task3,
            "task6": self.task6,
            "scaling": self.scaling,
        }
        for name in STEPS:
            self._step(name, functions[name])

    def _step(self, name: str, function: Callable[[], None]) -> None:
        if not self.budget.in_budget(name):
            self.steps[name] = {
                "status": "not in budget",
                "reason": f"not part of the {self.budget.name} budget",
            }
            _say(f"[{name}] not in the {self.budget.name} budget")
            return
        _say(f"[{name}] started")
        started = time.perf_counter()
        try:
            function()
            self.steps[name] = {"status": "done", "reason": ""}
        except StepSkipped as reason:
            self.steps[name] = {"status": "skipped", "reason": str(reason)}
            _say(f"[{name}] skipped: {reason}")
        except Exception as error:  # noqa: BLE001 - one failed step must not lose the others' results
            self.steps[name] = {"status": "failed", "reason": f"{type(error).__name__}: {error}"}
            _say(f"[{name}] FAILED: {type(error).__name__}: {error}")
            traceback.print_exc(file=sys.stderr)
        self.steps[name]["seconds"] = round(time.perf_counter() - started, 1)
        _say(f"[{name}] {self.steps[name]['status']} after {self.steps[name]['seconds']:.0f} s")
        if self.on_step_end is not None:
            self.on_step_end()

    # ------------------------------------------------------------------ steps

    def task1_dataset(self) -> str:
        """The Task 1 data set shared by task1, localization, modified and scaling (made once)."""
        if self._task1_dataset is None:
            info = self.client.create_task(
                1, num_sequences=self.budget.task1_sequences, seed=0, name="reproduce-task1"
            )
            self._task1_dataset = info.dataset_id
            self.details["task1_dataset"] = _dataset_json(info)
        return self._task1_dataset

    def task1(self) -> None:
        """Task 1 grid: one Experiment per architecture (keeps each stored result under 16 MiB)."""
        from motiflens_client.experiments import Experiment

        budget = self.budget
        dataset_id = self.task1_dataset()
        for model, activations in budget.task1_grid:
            experiment = Experiment(
                1,
                [model],
                list(activations),
                list(budget.seeds),
                epochs=budget.task1_epochs,
                patience=budget.task1_patience,
                dataset_id=dataset_id,
                name=f"reproduce-task1-{model}",
            )
            result = experiment.run(self.client, progress=self.progress)
            self._save_experiment("task1", f"task1-{model}", result)
            self._experiment_figures("task1", result)
            # Kept per architecture, so localisation still runs if a later architecture fails.
            self._task1_runs.extend(result.runs)

    def localization(self) -> None:
        """Localisation AUROC of the CNN-deep exponential/relu scans and of the ground-truth PWM scan."""
        from motiflens_client import DatasetSplit

        runs = [
            run
            for run in self._task1_runs
            if run.model == "cnn_deep" and run.activation in ("exponential", "relu")
        ]
        if {run.activation for run in runs} != {"exponential", "relu"}:
            raise StepSkipped(
                "needs the Task 1 CNN-deep exponential and relu models (step task1 did not make them)"
            )
        test = DatasetSplit(self.task1_dataset(), "test")
        per_activation: dict[str, dict[str, list]] = {}
        baseline = None
        for run in runs:
            _say(f"[localization] {run.model}/{run.activation}/seed {run.seed}")
            result = self.client.localize(run.model_id, test, pwm_baseline=baseline is None)
            if baseline is None:
                baseline = result.pwm_baseline
            entry = per_activation.setdefault(
                run.activation, {"values": [], "seeds": [], "sd": [], "pooled": [], "models": []}
            )
            entry["values"].append(result.filters.auroc)
            entry["seeds"].append(run.seed)
            entry["sd"].append(result.filters.auroc_std)
            entry["pooled"].append(result.filters.pooled_auroc)
            entry["models"].append(run.model_id)
            num_sequences = result.filters.num_sequences
        for activation, entry in per_activation.items():
            figure = summarize(entry["values"], entry["seeds"])
            figure["per_sequence_sd"] = [_json_number(value) for value in entry["sd"]]
            figure["pooled_auroc"] = [_json_number(value) for value in entry["pooled"]]
            figure["num_sequences"] = num_sequences
            self.figures[figure_key("localization", "cnn_deep", activation, "auroc")] = figure
        if baseline is not None:
            # The PWM scan involves no model: one value (the data seed stands in for the seed).
            figure = summarize([baseline.auroc], [0])
            figure["per_sequence_sd"] = [_json_number(baseline.auroc_std)]
            figure["pooled_auroc"] = [_json_number(baseline.pooled_auroc)]
            figure["num_sequences"] = baseline.num_sequences
            self.figures["localization/pwm_baseline/auroc"] = figure

    def modified(self) -> None:
        """Modified activations on CNN-deep, same Task 1 data set."""
        from motiflens_client.experiments import Experiment

        budget = self.budget
        experiment = Experiment(
            1,
            ["cnn_deep"],
            list(budget.modified_activations),
            list(budget.modified_seeds),
            epochs=budget.task1_epochs,
            patience=budget.task1_patience,
            dataset_id=self.task1_dataset(),
            name="reproduce-modified",
        )
        result = experiment.run(self.client, progress=self.progress)
        self._save_experiment("modified", "modified", result)
        self._experiment_figures("modified", result)
        if "log_relu" in budget.modified_activations:
            # The paper's control: does log_relu's strong first-layer L2 alone explain it?
            control = dataclasses.replace(
                experiment,
                activations=["relu"],
                first_layer_l2=LOG_RELU_L2,
                name="reproduce-modified-control",
            ).run(self.client, progress=self.progress)
            control = relabel_activations(control, {"relu": LOG_RELU_CONTROL})
            self._save_experiment("modified", "modified-control", control)
            self._experiment_figures("modified", control)

    def scaling(self) -> None:
        """exp(s·x) on CNN-deep: ``scaled_exponential`` with its ``scale`` parameter, one per s."""
        from motiflens_client.experiments import Experiment

        budget = self.budget
        experiment = Experiment(
            1,
            ["cnn_deep"],
            [scaled_activation(scale) for scale in budget.scaling_scales],
            list(budget.scaling_seeds),
            epochs=budget.task1_epochs,
            patience=budget.task1_patience,
            dataset_id=self.task1_dataset(),
            name="reproduce-scaling",
        )
        result = experiment.run(self.client, progress=self.progress)
        self._save_experiment("scaling", "scaling", result)
        self._experiment_figures("scaling", result)

    def task3(self) -> None:
        """Task 3: one Experiment per architecture on one generated data set."""
        from motiflens_client.experiments import Experiment

        budget = self.budget
        info = self.client.create_task(
            3, num_sequences=budget.task3_sequences, seed=0, name="reproduce-task3"
        )
        self.details["task3_dataset"] = _dataset_json(info)
        for model in budget.task3_models:
            experiment = Experiment(
                3,
                [model],
                list(budget.task3_activations),
                list(budget.task3_seeds),
                epochs=budget.task3_epochs,
                patience=budget.task3_patience,
                interpretability_limit=budget.interpretability_positives,
                dataset_id=info.dataset_id,
                name=f"reproduce-task3-{model}",
            )
            result = experiment.run(self.client, progress=self.progress)
            self._save_experiment("task3", f"task3-{model}", result)
            self._experiment_figures("task3", result, methods=result.attribution_methods)

    def task6(self) -> None:
        """ResidualBind on IRF1: AUROC, IRF motifs among the filters and in the saliency maps."""
        budget = self.budget
        if self.irf1 is None or not self.irf1.is_file():
            raise StepSkipped(f"the IRF1 file {self.irf1} is not there (give it with --irf1 PATH)")
        path = self.irf1
        if budget.task6_subsample is not None:
            path = subsample_hdf5(
                self.irf1, self.output / "work" / "irf1-subsample.h5", budget.task6_subsample
            )
        X_test, y_test = read_test_split(path)
        positives = np.flatnonzero(y_test > 0.5)
        if budget.task6_positives:
            positives = positives[: budget.task6_positives]
        data = self.client.import_hdf5(path, reverse_complement=True, name="reproduce-task6-irf1")
        self.details["task6_dataset"] = _dataset_json(data)
        jobs = []
        try:
            for activation in budget.task6_activations:
                for seed in budget.task6_seeds:
                    job = self.client.train(
                        data.dataset_id,
                        architecture="residualbind",
                        activation=activation,
                        seed=seed,
                        epochs=budget.task6_epochs,
                        patience=budget.task6_patience,
                        name=f"reproduce-task6-{activation}-s{seed}",
                    )
                    jobs.append((activation, seed, job))
            infos = []
            for activation, seed, job in jobs:
                _say(f"[task6] training residualbind/{activation}/seed {seed} ({job.job_id})")
                infos.append((activation, seed, job.wait(progress=self.progress)))
        except BaseException:
            for _, _, job in jobs:
                try:
                    job.cancel()
                except Exception:  # noqa: BLE001 - best effort; the original error matters
                    pass
            raise
        X_positive = X_test[positives]
        rng = np.random.default_rng(0)
        control_starts = rng.integers(0, X_test.shape[1] - WINDOW + 1, size=len(positives))
        control = self._irf_window_hits(X_positive, control_starts, "control")
        runs = []
        for activation, seed, info in infos:
            _say(f"[task6] interpreting residualbind/{activation}/seed {seed} ({info.model_id})")
            runs.append(self._task6_run(activation, seed, info, data.dataset_id, X_test, y_test, X_positive))
        by_activation: dict[str, list[dict]] = {}
        for run in runs:
            by_activation.setdefault(run["activation"], []).append(run)
        for activation, items in by_activation.items():
            seeds = [item["seed"] for item in items]
            for metric in (
                "test_auroc",
                "test_aupr",
                "epochs",
                "irf_filter_fraction",
                "match_any_fraction",
                "irf_in_top_filters",
                "saliency_irf_fraction",
            ):
                self.figures[figure_key("task6", "residualbind", activation, metric)] = summarize(
                    [item[metric] for item in items], seeds
                )
        self.figures["task6/random_window/irf_fraction"] = summarize([control["fraction"]], [0])
        details = {
            "dataset": _dataset_json(data),
            "source_file": str(self.irf1),
            "subsample": list(budget.task6_subsample) if budget.task6_subsample else None,
            "num_positives": int(len(positives)),
            "window": WINDOW,
            "top_filters_checked": TOP_FILTERS,
            "positive_rows": positives.tolist(),
            "rules": {
                "irf_family": f"JASPAR motif name starts with {IRF_PREFIX!r} (case-insensitive)",
                "top_filters": f"top {TOP_FILTERS} filters by Cohen's d of the per-sequence maximum "
                "activation, positive vs negative test sequences",
                "saliency_window": f"highest sum of saliency x input over {WINDOW}-nt windows; one-hot "
                "window vs JASPAR 2016 with Tomtom, E < 0.1",
                "control": f"one random {WINDOW}-nt window per positive sequence (numpy seed 0)",
            },
            "control": control,
            "runs": runs,
        }
        self._save_json(EXPERIMENTS_DIR + "/task6", details)
        self.experiments.setdefault("task6", []).append(f"{EXPERIMENTS_DIR}/task6")

    def _task6_run(self, activation, seed, info, dataset_id, X_test, y_test, X_positive) -> dict:
        from motiflens_client import DatasetSplit
        from motiflens_client.experiments import filter_set_from_match

        client = self.client
        filters = client.filters(info.model_id, DatasetSplit(dataset_id, "test"))
        match = client.match_filters(filters, num_filters=len(filters.filters))
        filter_set = filter_set_from_match(filters, match)
        irf_names = [
            tuple(sorted(set(_irf_names(match.hits, index)))) for index in range(filter_set.num_filters)
        ]
        # Colour IRF filters as "ground truth" in the logos.
        filter_set = dataclasses.replace(filter_set, ground_truth_tfs=tuple(irf_names))
        scans = client.scan_filters(info.model_id, X_test, timeout=LONG_CALL_TIMEOUT)  # (N, L, F)
        effect = cohens_d(scans.max(axis=1), y_test > 0.5)
        order = np.argsort(-np.nan_to_num(effect, nan=-np.inf))[:TOP_FILTERS]
        top = [
            {
                "index": int(index),
                "cohens_d": _json_number(effect[index]),
                "best_hit": filter_set.best_hit_names[index],
                "irf": bool(irf_names[index]),
            }
            for index in order
        ]
        X_attr = client.attribute(
            info.model_id, X_positive, method="saliency", times_input=True, timeout=LONG_CALL_TIMEOUT
        )
        starts = top_windows(X_attr.sum(axis=2), WINDOW)
        windows = self._irf_window_hits(X_positive, starts, f"{activation}-s{seed}")
        metrics = info.test_metrics
        example = int(np.argmax(X_attr.sum(axis=(1, 2)))) if len(X_positive) else None
        return {
            "activation": activation,
            "seed": seed,
            "model_id": info.model_id,
            "job_id": info.job_id,
            "epochs": int(info.epochs_done),
            "test_auroc": math.nan if metrics is None else float(metrics.auroc),
            "test_aupr": math.nan if metrics is None else float(metrics.aupr),
            "num_filters": filter_set.num_filters,
            "irf_filter_fraction": float(np.mean([bool(names) for names in irf_names]))
            if irf_names
            else math.nan,
            "match_any_fraction": float(match.match_any_fraction),
            "irf_in_top_filters": float(any(item["irf"] for item in top)),
            "top_filters": top,
            "saliency_irf_fraction": windows["fraction"],
            "saliency_windows": windows,
            "filters": filter_set.to_json(),
            "example": None
            if example is None
            else {
                "positive": example,
                "one_hot": X_positive[example].tolist(),
                "saliency_times_input": np.round(X_attr[example], 6).tolist(),
                "window_start": int(starts[example]),
            },
        }

    def _irf_window_hits(self, X: np.ndarray, starts: np.ndarray, label: str) -> dict:
        """Tomtom of one window per sequence against JASPAR 2016; how many hit an IRF motif.

        Parameters
        ----------
        X : np.ndarray, shape (N, L, 4)
        starts : np.ndarray, shape (N,), int
            Window start per sequence (windows of :data:`WINDOW` nt).
        """
        queries = []
        for index, start in enumerate(starts):
            window = np.asarray(X[index, start : start + WINDOW], dtype=np.float64)
            window[window.sum(axis=1) == 0] = 0.25  # an N column is uniform, not empty
            queries.append((f"seq{index}", window))
        if not queries:
            return {"fraction": math.nan, "num_windows": 0, "num_irf": 0, "top_hits": [], "starts": []}
        compare = self.client.tomtom(queries)  # the client's deadline is LONG_CALL_TIMEOUT (see main)
        irf_queries, best = set(), {}
        for hit in compare.hits:
            if hit.target_name.upper().startswith(IRF_PREFIX):
                irf_queries.add(hit.query_id)
            if hit.query_id not in best or hit.e_value < best[hit.query_id][0]:
                best[hit.query_id] = (hit.e_value, hit.target_name)
        counts = Counter(name for _, name in best.values())
        _say(f"[task6] {label}: {len(irf_queries)}/{len(queries)} windows hit an IRF motif")
        return {
            "fraction": len(irf_queries) / len(queries),
            "num_windows": len(queries),
            "num_irf": len(irf_queries),
            "num_any_hit": len(best),
            "top_hits": counts.most_common(8),
            "starts": [int(start) for start in starts],
        }

    # ------------------------------------------------------------------ bookkeeping

    def _save_experiment(self, step: str, name: str, result) -> None:
        relative = f"{EXPERIMENTS_DIR}/{name}"
        result.save(self.output / relative)
        self.experiments.setdefault(step, []).append(relative)
        self.notes.extend(f"{name}: {note}" for note in result.notes)

    def _save_json(self, relative: str, data: dict) -> None:
        directory = self.output / relative
        directory.mkdir(parents=True, exist_ok=True)
        _write_json(directory / RESULTS_JSON, data)

    def _experiment_figures(self, prefix: str, result, methods: Sequence[str] = ()) -> None:
        """Per (model, activation): each metric over seeds; Task 3 also each method's interpretability."""
        groups: dict[tuple[str, str], list] = {}
        for run in result.runs:
            groups.setdefault((run.model, run.activation), []).append(run)
        for (model, activation), runs in groups.items():
            seeds = [run.seed for run in runs]
            for metric in TASK1_METRICS:
                self.figures[figure_key(prefix, model, activation, metric)] = summarize(
                    [getattr(run, metric) for run in runs], seeds
                )
            for method in methods:
                for kind in ("auroc", "aupr"):
                    values = [
                        getattr(run.interpretability[method], kind)
                        if method in run.interpretability
                        else None
                        for run in runs
                    ]
                    key = figure_key(prefix, model, activation, method, f"interpretability_{kind}")
                    self.figures[key] = summarize(values, seeds)


def relabel_activations(result, labels: Mapping[str, str]):
    """A copy of an ExperimentResult whose runs' activation labels are renamed by ``labels``.

    The log_relu control is relu with another first-layer L2; its runs must not merge
    with the plain relu runs in figures and plots.
    """
    runs = [
        dataclasses.replace(run, activation=labels.get(run.activation, run.activation)) for run in result.runs
    ]
    config = dict(result.config)
    config["activations"] = [labels.get(label, label) for label in config.get("activations", [])]
    return dataclasses.replace(result, runs=runs, config=config)


def scaled_activation(scale: float) -> tuple[str, dict[str, float]]:
    """``0.5`` -> ``("scaled_exponential", {"scale": 0.5})``, labelled "scaled_exponential(scale=0.5)"."""
    return "scaled_exponential", {"scale": float(scale)}


# --------------------------------------------------------------------------- Task 6 helpers


def read_test_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The test split of a paper-layout HDF5 file.

    Returns
    -------
    X : np.ndarray, shape (N, L, 4), float32
        One-hot (the file's (N, 4, L) is transposed).
    y : np.ndarray, shape (N,), float32
        Label 0.
    """
    import h5py

    with h5py.File(path, "r") as handle:
        X = np.asarray(handle["X_test"], dtype=np.float32)
        y = np.asarray(handle["Y_test"], dtype=np.float32).reshape(len(X), -1)[:, 0]
    if X.shape[1] == 4 and X.shape[2] != 4:
        X = np.ascontiguousarray(X.transpose(0, 2, 1))
    return X, y


def subsample_hdf5(source: Path, target: Path, sizes: tuple[int, int, int], seed: int = 0) -> Path:
    """Write the first (seeded random) rows of each split of a paper-layout HDF5 file.

    Parameters
    ----------
    source, target : Path
        ``target``'s folder is created; the file is replaced.
    sizes : (int, int, int)
        Rows of train, valid and test (fewer when a split is smaller).
    seed : int, default 0

    Returns
    -------
    Path
        ``target``.
    """
    import h5py

    target.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with h5py.File(source, "r") as handle, h5py.File(target, "w") as out:
        for split, size in zip(("train", "valid", "test"), sizes, strict=True):
            count = handle[f"Y_{split}"].shape[0]
            rows = np.sort(rng.permutation(count)[: min(size, count)])
            for prefix in ("X", "Y"):
                out.create_dataset(f"{prefix}_{split}", data=handle[f"{prefix}_{split}"][rows])
    return target


def top_windows(scores: np.ndarray, width: int) -> np.ndarray:
    """Start of the highest-sum window of ``width`` positions per row.

    Parameters
    ----------
    scores : np.ndarray, shape (N, L)
    width : int
        At most L.

    Returns
    -------
    np.ndarray, shape (N,), int64
        Starts in [0, L - width]; ties go to the leftmost window.
    """
    scores = np.asarray(scores, dtype=np.float64)
    cumulative = np.concatenate([np.zeros((len(scores), 1)), np.cumsum(scores, axis=1)], axis=1)
    sums = cumulative[:, width:] - cumulative[:, :-width]  # (N, L - width + 1)
    return np.argmax(sums, axis=1).astype(np.int64)


def cohens_d(values: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Standardised difference of means, positives minus negatives, per column.

    Parameters
    ----------
    values : np.ndarray, shape (N, F)
    positive : np.ndarray, shape (N,), bool

    Returns
    -------
    np.ndarray, shape (F,), float64
        (mean_pos - mean_neg) / pooled sd; NaN where either group is empty or the pooled sd is 0.
    """
    values = np.asarray(values, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    a, b = values[positive], values[~positive]
    if len(a) < 2 or len(b) < 2:
        return np.full(values.shape[1], np.nan)
    pooled = np.sqrt(
        ((len(a) - 1) * a.var(axis=0, ddof=1) + (len(b) - 1) * b.var(axis=0, ddof=1)) / (len(a) + len(b) - 2)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (a.mean(axis=0) - b.mean(axis=0)) / pooled
    return np.where(pooled > 0, d, np.nan)


def _irf_names(hits, index: int) -> list[str]:
    """Names of the IRF-family Tomtom hits of filter ``index``."""
    return [
        hit.target_name
        for hit in hits
        if hit.query_id == f"filter{index}" and hit.target_name.upper().startswith(IRF_PREFIX)
    ]


# --------------------------------------------------------------------------- results


def environment(address: str | None) -> dict:
    """Date, machine and versions of this run (no host name)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": cpus,
        "python": platform.python_version(),
        "motiflens": _version("motiflens"),
        "motiflens_client": _version("motiflens-client"),
        "tensorflow": _version("tensorflow"),
        "services": "local (Client.local, this machine)"
        if address is None
        else f"remote at {address} (machine fields describe the harness host only)",
    }


def assemble(reproduction: Reproduction, budget: Budget, env: dict, seconds: float) -> dict:
    """The ``results.json`` document (claims included)."""
    figures = {}
    for key in sorted(reproduction.figures):
        figure = dict(reproduction.figures[key])
        reference = REFERENCES.get(key)
        figure["paper"] = None if reference is None else reference.to_json()
        figures[key] = figure
    results = {
        "format_version": FORMAT_VERSION,
        "harness": "bench/reproduce.py",
        "paper": "Koo & Ploenzke (2021), Nature Machine Intelligence 3, 258-266",
        "budget": budget.to_json(),
        "budget_settings": budget.settings_lines(),
        "environment": env,
        "seconds": round(seconds, 1),
        "steps": {name: reproduction.steps.get(name, {"status": "not run", "reason": ""}) for name in STEPS},
        "figures": figures,
        "paper_references": {reference.key: reference.to_json() for reference in PAPER_REFERENCES},
        "experiments": reproduction.experiments,
        "details": reproduction.details,
        "notes": reproduction.notes,
    }
    results["claims"] = [claim.to_json() for claim in check_claims(results)]
    return results


def _dataset_json(info) -> dict:
    return {
        "dataset_id": info.dataset_id,
        "kind": info.kind,
        "num_train": info.num_train,
        "num_valid": info.num_valid,
        "num_test": info.num_test,
        "sequence_length": info.sequence_length,
        "num_targets": info.num_targets,
        "seed": info.seed,
    }


def _json_number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _clean(data: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, tuples -> lists, recursively."""
    if isinstance(data, dict):
        return {str(key): _clean(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_clean(value) for value in data]
    if isinstance(data, np.ndarray):
        return _clean(data.tolist())
    if isinstance(data, np.bool_ | bool):
        return bool(data)
    if isinstance(data, np.integer):
        return int(data)
    if isinstance(data, float | np.floating):
        return _json_number(data)
    return data


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(_clean(data), indent=1, allow_nan=False))
    os.replace(temporary, path)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _seeds_text(seeds: Sequence[int]) -> str:
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]} ({len(seeds)})"
    return ", ".join(str(seed) for seed in seeds) + f" ({len(seeds)})"


def _say(message: str) -> None:
    sys.stderr.write(f"[reproduce] {message}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- entry point


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python bench/reproduce.py", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="small", help="run size (default small)")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("reproduce-output"),
        help="output folder (default reproduce-output)",
    )
    parser.add_argument(
        "--irf1",
        type=Path,
        default=DEFAULT_IRF1,
        help=f"the paper's Task 6 file IRF1_400_h3k27ac.h5 (default {DEFAULT_IRF1})",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="use running services (trainer HOST:PORT; interpreter and motifmatch on the next two ports) "
        "instead of starting them with Client.local",
    )
    parser.add_argument("--token", default=None, help="bearer token for --address")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="only re-render reproduce.html (and re-check the claims) from an existing results.json",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness; returns the exit status (0 all steps ran, 1 a step failed, 2 bad usage)."""
    args = parse_args(argv)
    from reproduce_report import write_report

    output = args.output.resolve()
    if args.render_only:
        path = output / RESULTS_JSON
        if not path.is_file():
            print(f"error: --render-only: no {path}", file=sys.stderr)
            return 2
        results = json.loads(path.read_text())
        results["claims"] = [claim.to_json() for claim in check_claims(results)]
        _write_json(path, results)
        report = write_report(results, output)
        print(f"report: {report}")
        return 0

    from motiflens_client import Client

    budget = BUDGETS[args.budget]
    output.mkdir(parents=True, exist_ok=True)
    env = environment(args.address)
    print("motiflens reproduction of Koo & Ploenzke (2021)", flush=True)
    for line in budget.settings_lines():
        print(f"  {line}", flush=True)
    print(
        f"  machine: {env['processor']}, {env['usable_cpus']} usable CPUs, Python {env['python']}, "
        f"motiflens {env['motiflens']}, TensorFlow {env['tensorflow']}; services {env['services']}",
        flush=True,
    )
    started = time.perf_counter()
    if args.address:
        client = Client(args.address, token=args.token, timeout=LONG_CALL_TIMEOUT)
    else:
        store = output / "store"
        _say(f"starting trainer, interpreter and motifmatch on loopback (store {store})")
        client = Client.local(store=store.as_uri())
        # Client.local has no call-deadline option; localisation of a 6,000-sequence test set
        # and FilterMotifs on it can take minutes on 2 cores.
        client.timeout = LONG_CALL_TIMEOUT
    with client:
        reproduction = Reproduction(client, budget, output, irf1=args.irf1, progress=not args.quiet)

        def checkpoint() -> None:
            # After every step, so a crash or an interrupt keeps what was measured.
            _write_json(
                output / RESULTS_JSON,
                assemble(reproduction, budget, env, time.perf_counter() - started),
            )

        reproduction.on_step_end = checkpoint
        reproduction.run()
    results = assemble(reproduction, budget, env, time.perf_counter() - started)
    _write_json(output / RESULTS_JSON, results)
    report = write_report(results, output)
    claims = check_claims(results)
    print(f"\nclaims ({budget.name} budget; the paper's protocol is the paper budget):", flush=True)
    print(format_claims(claims), flush=True)
    failed = [name for name, state in results["steps"].items() if state["status"] == "failed"]
    skipped = [name for name, state in results["steps"].items() if state["status"] == "skipped"]
    print(f"\nresults: {output / RESULTS_JSON}\nreport:  {report}\ntotal {results['seconds'] / 60:.1f} min")
    for name in skipped:
        print(f"step {name} skipped: {results['steps'][name]['reason']}")
    for name in failed:
        print(f"step {name} FAILED: {results['steps'][name]['reason']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
