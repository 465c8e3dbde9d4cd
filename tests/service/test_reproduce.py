"""The reproduction harness end to end at the ``tiny`` budget, through a real local stack.

One run of ``bench/reproduce.py --budget tiny`` (``Client.local``: trainer, interpreter
and motifmatch as processes; two epochs, one seed, a few hundred sequences, a
subsample of the IRF1 file) serves the module; the tests check the structure and the
ranges of ``results.json``, the saved experiments and ``reproduce.html``. Without the
IRF1 file (no ../shared folder) the Task 6 step must be skipped and say so; the
Task 6 checks then skip.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("logomaker")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import reproduce  # noqa: E402
from reproduce_claims import check_claims  # noqa: E402

IRF1 = Path(__file__).resolve().parents[3] / "shared" / "data" / "IRF1_400_h3k27ac.h5"
METHODS = ("saliency", "ism", "integrated_gradients", "deepshap")
UNIT_INTERVAL = (
    "test_auroc",
    "test_aupr",
    "match_fraction",
    "match_any_fraction",
    "auroc",
    "interpretability_auroc",
    "interpretability_aupr",
    "irf_filter_fraction",
    "irf_in_top_filters",
    "saliency_irf_fraction",
    "irf_fraction",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(exit status, stdout, output folder) of one tiny run."""
    output = tmp_path_factory.mktemp("reproduce")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = reproduce.main(["--budget", "tiny", "--output", str(output), "--irf1", str(IRF1), "--quiet"])
    return status, stdout.getvalue(), output


@pytest.fixture(scope="module")
def results(run) -> dict:
    return json.loads((run[2] / "results.json").read_text())


def test_every_step_ran_and_the_run_exits_0(run, results):
    status, stdout, _ = run
    assert status == 0, stdout
    expected = {name: "done" for name in reproduce.STEPS}
    if not IRF1.is_file():
        expected["task6"] = "skipped"
    assert {name: state["status"] for name, state in results["steps"].items()} == expected
    assert all(state["seconds"] >= 0 for state in results["steps"].values())


def test_without_the_irf1_file_task6_is_skipped_and_says_so(run, results):
    if IRF1.is_file():
        pytest.skip("the IRF1 file is present; Task 6 ran")
    reason = results["steps"]["task6"]["reason"]
    assert str(IRF1) in reason
    assert "step task6 skipped" in run[1]
    claim = {claim["id"]: claim for claim in results["claims"]}["C5"]
    assert claim["label"] == "not evaluated (skipped)"


def test_results_record_the_budget_date_machine_and_versions(results):
    assert results["format_version"] == 1
    assert results["budget"]["name"] == "tiny" and results["budget"]["seeds"] == [0]
    assert results["budget_settings"][0].startswith("budget tiny:")
    env = results["environment"]
    assert env["date"].endswith("+00:00") and env["cpu_count"] >= 1 and env["python"].startswith("3.11")
    assert env["motiflens"] == "0.1.0" and env["tensorflow"] != "not installed"
    assert results["seconds"] > 0


def test_every_expected_figure_is_there_with_per_seed_values(results):
    figures = results["figures"]
    expected = [
        f"{prefix}/{metric}"
        for prefix in (
            "task1/cnn_deep/exponential",
            "task1/cnn_deep/relu",
            "modified/cnn_deep/shift_scale_relu",
            "modified/cnn_deep/log_relu",
            "modified/cnn_deep/relu(first_layer_l2=0.2)",
            "scaling/cnn_deep/scaled_exponential(scale=0.5)",
            "task3/cnn_local/exponential",
            "task3/cnn_local/relu",
        )
        for metric in reproduce.TASK1_METRICS
    ]
    expected += [
        f"task3/cnn_local/{activation}/{method}/interpretability_{kind}"
        for activation in ("exponential", "relu")
        for method in METHODS
        for kind in ("auroc", "aupr")
    ]
    expected += [
        "localization/cnn_deep/exponential/auroc",
        "localization/cnn_deep/relu/auroc",
        "localization/pwm_baseline/auroc",
    ]
    if IRF1.is_file():
        expected += [
            f"task6/residualbind/{activation}/{metric}"
            for activation in ("exponential", "relu")
            for metric in ("test_auroc", "test_aupr", "irf_filter_fraction", "saliency_irf_fraction")
        ]
        expected.append("task6/random_window/irf_fraction")
    assert sorted(set(expected) - set(figures)) == []
    for key, figure in figures.items():
        assert len(figure["values"]) == len(figure["seeds"]) == 1, key
        value = figure["values"][0]
        assert figure["n"] == (0 if value is None else 1)
        assert figure["mean"] == value and figure["sd"] is None, key  # one seed: no sd
        if key.split("/")[-1] in UNIT_INTERVAL and value is not None:
            assert 0.0 <= value <= 1.0, (key, value)
        if key.endswith("/epochs"):
            assert value == 2, key  # patience 2 never stops a 2-epoch run early
    assert figures["localization/cnn_deep/exponential/auroc"]["paper"]["value"] == pytest.approx(0.889)
    assert figures["task1/cnn_deep/relu/test_auroc"]["paper"] is None


def test_localization_scans_the_whole_test_set_and_the_pwm_baseline_localizes(results):
    figures = results["figures"]
    for key in (
        "localization/cnn_deep/exponential/auroc",
        "localization/cnn_deep/relu/auroc",
        "localization/pwm_baseline/auroc",
    ):
        assert figures[key]["num_sequences"] == 60  # 20% of 300
        assert 0.0 <= figures[key]["per_sequence_sd"][0] <= 0.5
    # The ground-truth PWM scan needs no training: it must localize even at this size.
    assert figures["localization/pwm_baseline/auroc"]["mean"] > 0.85


def test_the_claims_are_the_checkers_verdict_on_the_figures(run, results):
    claims = results["claims"]
    assert [claim["id"] for claim in claims] == ["C1a", "C1b", "C2", "C3", "C4", "C5"]
    assert [claim["status"] for claim in claims] == [claim.status for claim in check_claims(results)]
    by_id = {claim["id"]: claim for claim in claims}
    assert by_id["C1b"]["label"] == "not evaluated (budget)"  # CNN-2 is not in the tiny grid
    for claim_id in ("C1a", "C2", "C3", "C4") + (("C5",) if IRF1.is_file() else ()):
        assert by_id[claim_id]["status"] in ("holds", "does not hold"), by_id[claim_id]
    stdout = run[1]
    assert "[not evaluated (budget)] C1b" in stdout
    assert stdout.index("claims (tiny budget") < stdout.index("] C5:")


def test_experiments_are_saved_with_their_runs(run, results):
    output = run[2]
    assert results["experiments"]["task1"] == ["experiments/task1-cnn_deep"]
    task3 = json.loads((output / "experiments/task3-cnn_local/results.json").read_text())
    assert [(r["activation"], r["seed"]) for r in task3["runs"]] == [("exponential", 0), ("relu", 0)]
    for run_data in task3["runs"]:
        assert run_data["model_id"].startswith("model-")
        for method in METHODS:
            assert 1 <= run_data["interpretability"][method]["num_sequences"] <= 6
    # The log_relu control: relu with log_relu's first-layer L2, labelled apart from relu.
    assert results["experiments"]["modified"] == ["experiments/modified", "experiments/modified-control"]
    control = json.loads((output / "experiments/modified-control/results.json").read_text())
    assert control["config"]["first_layer_l2"] == 0.2
    assert control["config"]["activations"] == ["relu(first_layer_l2=0.2)"]
    assert [r["activation"] for r in control["runs"]] == ["relu(first_layer_l2=0.2)"]
    scaling = json.loads((output / "experiments/scaling/results.json").read_text())
    assert [r["activation"] for r in scaling["runs"]] == ["scaled_exponential(scale=0.5)"]
    assert results["details"]["task1_dataset"]["num_test"] == 60


def test_task6_details(run, results, irf1_path):
    details = json.loads((run[2] / "experiments/task6/results.json").read_text())
    assert details["dataset"]["num_train"] == 2 * 240  # reverse-complement augmented
    assert details["dataset"]["num_test"] == 80 and details["dataset"]["sequence_length"] == 400
    assert details["num_positives"] == 16 == len(details["positive_rows"])
    assert details["control"]["num_windows"] == 16
    assert [r["activation"] for r in details["runs"]] == ["exponential", "relu"]
    for run_data in details["runs"]:
        assert run_data["num_filters"] == 24
        assert np.asarray(run_data["filters"]["pwms"]).shape == (24, 19, 4)
        assert len(run_data["top_filters"]) == reproduce.TOP_FILTERS
        assert run_data["irf_in_top_filters"] == float(any(t["irf"] for t in run_data["top_filters"]))
        windows = run_data["saliency_windows"]
        assert windows["num_windows"] == 16 and 0 <= windows["num_irf"] <= 16
        assert all(0 <= start <= 400 - reproduce.WINDOW for start in windows["starts"])
        assert run_data["saliency_irf_fraction"] == windows["num_irf"] / 16
        example = run_data["example"]
        assert np.asarray(example["saliency_times_input"]).shape == (400, 4)
        assert example["window_start"] == windows["starts"][example["positive"]]
        assert not math.isnan(run_data["test_auroc"])


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_the_report_shows_the_papers_values_and_every_image_exists(run, results):
    output = run[2]
    page = (output / "reproduce.html").read_text()
    parser = _Images()
    parser.feed(page)
    sources = parser.sources
    expected = {
        "figures/activations.png",
        "figures/task1_match_fraction.png",
        "figures/task1_filters_cnn_deep_exponential.png",
        "figures/task1_filters_cnn_deep_relu.png",
        "figures/localization.png",
        "figures/modified_match_fraction.png",
        "figures/task3_interpretability_auroc.png",
        "figures/task3_attribution_cnn_local_exponential.png",
        "figures/scaling_match_fraction.png",
    }
    if IRF1.is_file():
        expected |= {"figures/task6_filters_exponential.png", "figures/task6_saliency.png"}
    assert expected <= set(sources)
    for source in sources:
        assert not source.startswith(("/", "http")), source  # offline: relative paths only
        assert (output / source).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", source
    assert {f"figures/{path.name}" for path in (output / "figures").glob("*.png")} == set(sources)
    for claim in results["claims"]:
        assert f'<td class="text">{claim["id"]}</td>' in page
    assert "0.889 ± 0.201" in page and "0.884 ± 0.252" in page and "0.982" in page
    assert "not evaluated (budget)" in page
    assert 'href="results.json"' in page
