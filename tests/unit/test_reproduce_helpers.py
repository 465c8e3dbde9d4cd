"""Pure parts of the reproduction harness (bench/reproduce.py): budgets, Task 6 helpers, the scaled client."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import reproduce  # noqa: E402


def test_budgets_scale_as_the_issue_asks():
    tiny, small, paper = (reproduce.BUDGETS[name] for name in ("tiny", "small", "paper"))
    assert tiny.seeds == (0,) and tiny.task1_epochs == tiny.task3_epochs == tiny.task6_epochs == 2
    assert tiny.task1_sequences <= 500 and tiny.task3_sequences <= 500 and tiny.task6_subsample is not None
    assert dict(small.task1_grid) == {"cnn_deep": ("exponential", "relu"), "cnn_50": ("exponential", "relu")}
    assert small.seeds == small.task3_seeds == (0, 1, 2)
    assert set(small.modified_activations) == {"shift_scale_relu", "exp_relu"}
    assert not small.in_budget("scaling") and small.in_budget("modified") and small.in_budget("localization")
    assert paper.seeds == tuple(range(10)) and paper.task1_epochs == 100
    assert dict(paper.task1_grid) == {
        model: reproduce.STANDARD_ACTIVATIONS for model in ("cnn_2", "cnn_50", "cnn_deep")
    }
    assert paper.scaling_scales == (0.25, 0.5, 1.0, 2.0, 4.0) and "log_relu" in paper.modified_activations
    for budget in (tiny, small, paper):
        assert all(budget.in_budget(step) for step in ("task1", "task3", "task6"))
        assert len(budget.settings_lines()) == 7
        assert budget.to_json()["name"] == budget.name


def test_localization_is_out_of_budget_without_the_cnn_deep_pair():
    budget = reproduce.BUDGETS["small"]
    import dataclasses

    other = dataclasses.replace(budget, task1_grid=(("cnn_50", ("exponential", "relu")),))
    assert not other.in_budget("localization")


def test_scaled_activations_are_labelled_like_the_trainers_sweep_models():
    from motiflens_client.experiments import Experiment
    from motiflens_client.wire.vocabulary import activation_label

    assert reproduce.scaled_activation(0.25) == ("scaled_exponential", {"scale": 0.25})
    assert activation_label(*reproduce.scaled_activation(1.0)) == "scaled_exponential(scale=1)"
    experiment = Experiment(
        1, ["cnn_deep"], [reproduce.scaled_activation(s) for s in (0.5, 2.0)] + ["exponential"], [0]
    )
    assert [label for label, _, _ in experiment.activation_specs()] == [
        "scaled_exponential(scale=0.5)",
        "scaled_exponential(scale=2)",
        "exponential",
    ]
    assert experiment.combinations()[1] == ("cnn_deep", "scaled_exponential(scale=2)", 0)
    assert experiment.config()["activations"][0] == "scaled_exponential(scale=0.5)"
    with pytest.raises(ValueError, match="activations: expected names or"):
        Experiment(1, ["cnn_deep"], [("scaled_exponential", 2.0)], [0])


def test_top_windows_matches_a_brute_force_search():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(20, 60))
    scores[3, 10:15] += 10.0
    starts = reproduce.top_windows(scores, 5)
    assert starts.shape == (20,) and starts.dtype == np.int64
    assert starts[3] == 10
    brute = np.array([np.argmax([row[i : i + 5].sum() for i in range(56)]) for row in scores])
    np.testing.assert_array_equal(starts, brute)
    assert reproduce.top_windows(np.zeros((2, 8)), 8).tolist() == [0, 0]  # one window: start 0


def test_cohens_d_pinned_and_undefined_cases():
    values = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [0.0, 5.0], [0.0, 5.0], [0.0, 5.0]])
    positive = np.array([True, True, True, False, False, False])
    d = reproduce.cohens_d(values, positive)
    # Column 0: means 2 and 0; variances 1 and 0; pooled sd sqrt((2·1 + 2·0) / 4) = sqrt(0.5).
    assert d[0] == pytest.approx(2.0 / np.sqrt(0.5))
    assert np.isnan(d[1])  # constant column: no spread
    assert np.isnan(reproduce.cohens_d(values[:3], positive[:3])).all()  # no negatives
    assert reproduce.cohens_d(values[::-1], positive[::-1])[0] == pytest.approx(d[0])  # row order


def test_subsample_and_read_the_papers_layout(tmp_path: Path):
    rng = np.random.default_rng(1)
    source = tmp_path / "full.h5"
    with h5py.File(source, "w") as handle:
        for split, count in (("train", 30), ("valid", 10), ("test", 12)):
            bases = rng.integers(0, 4, size=(count, 25))
            handle[f"X_{split}"] = np.eye(4, dtype=np.float32)[bases].transpose(0, 2, 1)  # (N, 4, L)
            handle[f"Y_{split}"] = (np.arange(count) % 2).astype(np.int8).reshape(-1, 1)
    target = reproduce.subsample_hdf5(source, tmp_path / "work" / "sub.h5", (8, 20, 5))
    with h5py.File(target, "r") as handle:
        assert handle["X_train"].shape == (8, 4, 25) and handle["X_valid"].shape == (10, 4, 25)
        assert handle["Y_test"].shape == (5, 1) and handle["Y_test"].dtype == np.int8
    X, y = reproduce.read_test_split(source)
    assert X.shape == (12, 25, 4) and X.dtype == np.float32 and y.shape == (12,)
    np.testing.assert_array_equal(X.sum(axis=2), 1.0)
    X_sub, _ = reproduce.read_test_split(target)
    rows = [int(np.flatnonzero((X == row).all(axis=(1, 2)))[0]) for row in X_sub]
    assert rows == sorted(rows)  # a subset of the test rows, in file order


def test_a_missing_irf1_file_skips_task6_and_says_where_it_looked(tmp_path: Path):
    missing = tmp_path / "nowhere" / "IRF1_400_h3k27ac.h5"
    run = reproduce.Reproduction(None, reproduce.BUDGETS["tiny"], tmp_path, irf1=missing, progress=False)
    run._step("task6", run.task6)
    assert run.steps["task6"]["status"] == "skipped"
    assert str(missing) in run.steps["task6"]["reason"] and "--irf1" in run.steps["task6"]["reason"]
    assert not any(key.startswith("task6/") for key in run.figures)


def test_a_failing_step_is_recorded_and_the_next_one_still_runs(tmp_path: Path):
    run = reproduce.Reproduction(None, reproduce.BUDGETS["tiny"], tmp_path, irf1=None, progress=False)
    ended = []
    run.on_step_end = lambda: ended.append(dict(run.steps))

    def broken():
        raise RuntimeError("boom")

    run._step("task3", broken)
    run._step("scaling", lambda: None)
    assert run.steps["task3"]["status"] == "failed" and "RuntimeError: boom" in run.steps["task3"]["reason"]
    assert run.steps["scaling"]["status"] == "done"
    assert len(ended) == 2


def test_render_only_without_results_is_a_usage_error(tmp_path: Path, capsys):
    assert reproduce.main(["--render-only", "--output", str(tmp_path / "empty")]) == 2
    assert "no " in capsys.readouterr().err


def test_environment_names_the_machine_without_a_host_name():
    env = reproduce.environment(None)
    assert env["cpu_count"] >= 1 and env["usable_cpus"] >= 1
    assert env["python"].startswith("3.") and env["motiflens"] != ""
    assert env["date"].endswith("+00:00")
    assert "local" in env["services"]
    assert "remote at host:1" in reproduce.environment("host:1")["services"]
