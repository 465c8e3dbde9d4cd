"""The experiment runner, report and demo through a real local stack (``Client.local()``), tiny sizes.

One stack (file store in a temp dir) serves the module: a Task 1 experiment
(cnn_local × relu/exponential, 600 sequences, 2 epochs) and Task 3 experiments
(cnn_local, exponential, saliency + ISM). The demo test starts its own stack, as
``make demo`` does.
"""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from pathlib import Path

import h5py
import numpy as np
import pytest
from motiflens_client import Client
from motiflens_client.experiments import (
    NOISE_MOTIF_IDS,
    TASK3_GROUND_TRUTH,
    Experiment,
    ExperimentResult,
    demo,
    write_report,
)

TASK1_TFS = {
    "Arid3a",
    "CEBPB",
    "FOSL1",
    "Gabpa",
    "MAFK",
    "MAX",
    "MEF2A",
    "NFYB",
    "SP1",
    "SRF",
    "STAT1",
    "YY1",
}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("experiment-store")


@pytest.fixture(scope="module")
def client(store_dir: Path):
    with Client.local(store=store_dir.as_uri()) as client:
        yield client


@pytest.fixture(scope="module")
def task1(client) -> ExperimentResult:
    experiment = Experiment(
        1, ["cnn_local"], ["relu", "exponential"], [0], num_sequences=600, epochs=2, name="t1"
    )
    return experiment.run(client, progress=False)


@pytest.fixture(scope="module")
def task3(client, store_dir: Path) -> ExperimentResult:
    experiment = Experiment(
        3,
        ["cnn_local"],
        ["exponential"],
        [0],
        num_sequences=400,
        epochs=2,
        attribution_methods=("saliency", "ism"),
        interpretability_limit=15,
        name="t3",
    )
    return experiment.run(client, progress=False)


def _in_unit_interval(value: float) -> bool:
    return 0.0 <= value <= 1.0


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def test_task1_rows_have_every_field_in_range(task1: ExperimentResult):
    assert task1.dataset["num_train"] == 420 and task1.dataset["num_test"] == 120
    assert [(run.model, run.activation, run.seed) for run in task1.runs] == [
        ("cnn_local", "relu", 0),
        ("cnn_local", "exponential", 0),
    ]
    table = task1.table()
    assert len(table) == 2
    for row, run in zip(table, task1.runs, strict=True):
        assert re.fullmatch(r"model-[0-9a-f]{32}", row["model_id"])
        assert re.fullmatch(r"job-[0-9a-f]{32}", row["job_id"])
        assert row["epochs"] == 2
        for key in ("test_auroc", "test_aupr", "match_fraction", "match_any_fraction"):
            assert _in_unit_interval(row[key]), (key, row[key])
        assert row["num_filters"] == 24  # cnn_local's first layer
        assert run.filters.pwms.shape == (24, 19, 4)
        np.testing.assert_allclose(run.filters.pwms.sum(axis=-1), 1.0, atol=1e-6)
        assert set(run.covered_tfs) <= TASK1_TFS
        assert run.interpretability == {} and run.attributions == {}
    assert task1.example is None


def test_the_grid_is_trained_as_one_sweep(client, task1: ExperimentResult):
    jobs = {job.job_id: job for job in client.list_jobs()}
    (sweep_id,) = {jobs[run.job_id].sweep_id for run in task1.runs}
    sweep = client.get_sweep(sweep_id).info()
    assert (sweep.executor, sweep.state, sweep.name) == ("local", "SUCCEEDED", "t1")
    assert list(sweep.job_ids) == [run.job_id for run in task1.runs]  # grid order = result order
    assert [jobs[run.job_id].sweep_index for run in task1.runs] == [0, 1]


def test_task1_fractions_agree_with_the_per_filter_matches(task1: ExperimentResult):
    for run in task1.runs:
        filters = run.filters
        matched = [bool(tfs) for tfs in filters.ground_truth_tfs]
        any_hit = [any(i not in NOISE_MOTIF_IDS for i in ids) for ids in filters.hit_ids]
        assert run.match_fraction == pytest.approx(np.mean(matched))
        assert run.match_any_fraction == pytest.approx(np.mean(any_hit))
        assert set(run.covered_tfs) == {tf for tfs in filters.ground_truth_tfs for tf in tfs}
        for i in range(filters.num_filters):
            # the best hit is one of the filter's hits, with the lowest E-value
            assert (filters.best_hit_ids[i] == "") == (len(filters.hit_ids[i]) == 0)
            if filters.best_hit_ids[i]:
                assert filters.best_hit_ids[i] in filters.hit_ids[i]
                assert filters.best_hit_evalues[i] < 0.1


def test_summary_by_activation_groups_runs(task1: ExperimentResult):
    summary = task1.summary_by_activation()
    assert [(entry["model"], entry["activation"], entry["n"]) for entry in summary] == [
        ("cnn_local", "relu", 1),
        ("cnn_local", "exponential", 1),
    ]
    for entry, run in zip(summary, task1.runs, strict=True):
        assert entry["test_aupr_mean"] == pytest.approx(run.test_aupr)
        assert entry["test_aupr_sd"] == 0.0


def test_save_load_round_trip_and_report(task1: ExperimentResult, tmp_path: Path):
    task1.save(tmp_path)
    assert (tmp_path / "results.csv").read_text().splitlines()[0].startswith("model,activation,seed,")
    loaded = ExperimentResult.load(tmp_path)
    assert loaded.config == task1.config and loaded.dataset == task1.dataset
    for a, b in zip(loaded.table(), task1.table(), strict=True):
        assert a.keys() == b.keys()
        assert all(_same(a[key], b[key]) for key in a), (a, b)
    for a, b in zip(loaded.runs, task1.runs, strict=True):
        np.testing.assert_array_equal(a.filters.pwms, b.filters.pwms)
        assert a.filters.best_hit_names == b.filters.best_hit_names
        assert a.filters.hit_ids == b.filters.hit_ids

    report = write_report(loaded, tmp_path)
    assert report == tmp_path / "report.html"
    sources = _image_sources(report.read_text())
    # activations, match fractions, one filter grid per activation
    assert sources == [
        "activations.png",
        "match_fraction.png",
        "filters_cnn_local_relu.png",
        "filters_cnn_local_exponential.png",
    ]
    for source in sources:
        assert (tmp_path / source).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_task3_interpretability_and_example(task3: ExperimentResult, store_dir: Path, tmp_path: Path):
    (run,) = task3.runs
    assert set(run.interpretability) == {"saliency", "ism"}
    for score in run.interpretability.values():
        assert _in_unit_interval(score.auroc) and _in_unit_interval(score.aupr)
        assert 1 <= score.num_sequences <= 15
    assert set(run.covered_tfs) <= set(TASK3_GROUND_TRUTH)
    row = task3.table()[0]
    assert row["saliency_auroc"] == run.interpretability["saliency"].auroc
    assert row["ism_aupr"] == run.interpretability["ism"].aupr

    # Fig. 2d: the first positive test sequence, read with its ground truth from the local store
    example = task3.example
    path = store_dir / "artifacts" / task3.dataset["dataset_id"] / "data.h5"
    with h5py.File(path, "r") as handle:
        labels = handle["Y_test"][:].reshape(-1)
        X = handle["X_test"][example.index]
    assert example.selected_by == "label" and example.one_hot_source == "dataset"
    assert example.index == int(np.flatnonzero(labels > 0.5)[0])
    np.testing.assert_array_equal(example.one_hot, X.T)
    assert example.ground_truth.shape == (200, 4)
    assert set(run.attributions) == {"saliency", "ism", "integrated_gradients", "deepshap"}
    for scores in run.attributions.values():
        assert scores.shape == (200, 4) and np.isfinite(scores).all()
    # ISM is exactly 0 at the observed base
    assert np.all(run.attributions["ism"][example.one_hot.astype(bool)] == 0)

    task3.save(tmp_path)
    loaded = ExperimentResult.load(tmp_path)
    np.testing.assert_array_equal(loaded.example.ground_truth, example.ground_truth)
    np.testing.assert_array_equal(loaded.runs[0].attributions["ism"], run.attributions["ism"])
    report = write_report(loaded, tmp_path)
    sources = _image_sources(report.read_text())
    assert "attribution_cnn_local_exponential.png" in sources
    assert {"interpretability_auroc.png", "interpretability_aupr.png"} <= set(sources)
    assert all((tmp_path / source).is_file() for source in sources)


def test_task3_without_a_store_reads_the_example_through_the_api(
    client, task3: ExperimentResult, store_dir: Path
):
    # No ``store``: labels, the example row and its ground truth come from Client.read_split,
    # so the example is the one a store-aware run picks, ground truth included.
    experiment = Experiment(
        3,
        ["cnn_local"],
        ["exponential"],
        [0],
        epochs=1,
        attribution_methods=("saliency",),
        interpretability_limit=5,
        dataset_id=task3.dataset["dataset_id"],
    )
    result = experiment.run(client, progress=False)
    example = result.example
    assert example.selected_by == "label" and example.one_hot_source == "dataset"
    assert example.index == task3.example.index and result.notes == []
    np.testing.assert_array_equal(example.one_hot, task3.example.one_hot)
    np.testing.assert_array_equal(example.ground_truth, task3.example.ground_truth)
    path = store_dir / "artifacts" / task3.dataset["dataset_id"] / "data.h5"
    with h5py.File(path, "r") as handle:
        labels = handle["Y_test"][:].reshape(-1)
        truth = handle["model_test"][example.index]
    if truth.shape[0] == 4 and truth.shape[1] != 4:  # the paper's (4, L) file layout
        truth = truth.T
    np.testing.assert_array_equal(example.ground_truth, truth)
    # The rows scored end at the 5th positive label: at most 5 sequences.
    assert 1 <= result.runs[0].interpretability["saliency"].num_sequences <= 5
    assert int(np.sum(labels > 0.5)) >= 5


def test_experiment_rejects_bad_settings():
    with pytest.raises(ValueError, match="task: expected 1 or 3"):
        Experiment(2, ["cnn_deep"], ["relu"], [0])
    with pytest.raises(ValueError, match="activations: expected a non-empty sequence"):
        Experiment(1, ["cnn_deep"], [], [0])
    with pytest.raises(ValueError, match="unknown 'gradcam'"):
        Experiment(3, ["cnn_local"], ["relu"], [0], attribution_methods=("gradcam",))


def test_demo_runs_end_to_end(tmp_path: Path, capsys):
    output = tmp_path / "demo"
    code = demo.main(
        [
            "--num-sequences",
            "600",
            "--epochs",
            "2",
            "--patience",
            "2",
            "--output",
            str(output),
            "--quiet",
            "--trust-sequences",
            "40",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("activation"))
    assert "match ground truth" in lines[header] and "match any JASPAR" in lines[header]
    assert lines[header + 2].split()[0] == "relu" and lines[header + 3].split()[0] == "exponential"
    for line in lines[header + 2 : header + 4]:
        fields = line.split()
        assert fields[1] == "2"  # epochs
        assert all(_in_unit_interval(float(value)) for value in fields[2:5])
    # The trust reports: one line per activation with scores in range, and a page section.
    trust = next(i for i, line in enumerate(lines) if line.startswith("Trust reports"))
    rows = [line.split() for line in lines[trust + 3 : trust + 5]]
    assert [row[0] for row in rows] == ["relu", "exponential"]
    assert all(-1 <= float(value) <= 1 for row in rows for value in row[-3:])
    report = output / "report" / "report.html"
    assert "Can the explanations be trusted?" in report.read_text()
    assert f"report: {report}" in printed
    assert "kubectl port-forward -n motiflens svc/trainer 50051" in printed
    for source in _image_sources(report.read_text()):
        assert (report.parent / source).is_file()
    result = ExperimentResult.load(output / "report")
    assert [run.activation for run in result.runs] == ["relu", "exponential"]
    assert result.config["epochs"] == 2 and result.dataset["num_train"] == 420
    assert result.config["trust_sequences"] == 40 and result.runs[1].trust["num_sequences"] == 40
    assert (output / "store" / "artifacts").is_dir()


def test_demo_against_running_services_reports_a_service_error(client, tmp_path: Path, capsys):
    argv = ["--address", client.address, "--num-sequences", "100", "--epochs", "1", "--quiet"]
    code = demo.main([*argv, "--activations", "swish", "--output", str(tmp_path)])
    assert code == 2
    assert "swish" in capsys.readouterr().err


class _ImageSources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def _image_sources(text: str) -> list[str]:
    parser = _ImageSources()
    parser.feed(text)
    return parser.sources


def test_results_are_saved_to_the_store(client, task1: ExperimentResult):
    assert task1.result_id.startswith("result-")
    stored = client.get_result(task1.result_id)
    assert stored["config"] == task1.config
    assert [run["model_id"] for run in stored["runs"]] == [run.model_id for run in task1.runs]
