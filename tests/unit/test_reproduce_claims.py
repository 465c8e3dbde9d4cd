"""The reproduction harness's claim checker (bench/reproduce_claims.py) on made-up result sets.

Each claim is checked with a set that should pass, sets that should fail for each of
its conditions, and sets where its inputs are absent (budget, skipped or failed step).
"""

from __future__ import annotations

import copy
import json
import math
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from reproduce_claims import (  # noqa: E402
    FAILS,
    HOLDS,
    NOT_EVALUATED,
    PAPER_REFERENCES,
    REFERENCES,
    THRESHOLDS,
    check_claims,
    figure_key,
    format_claims,
    format_figure,
    summarize,
)

CLAIM_IDS = ["C1a", "C1b", "C2", "C3", "C4", "C5"]
METHODS = ("saliency", "ism", "integrated_gradients", "deepshap")


def _figure(*values: float) -> dict:
    return summarize(list(values), list(range(len(values))))


def paper_like() -> dict:
    """A result set in which every claim holds, with numbers close to the paper's."""
    figures = {}
    for model in ("cnn_deep", "cnn_2", "cnn_50"):
        figures[figure_key("task1", model, "exponential", "match_fraction")] = _figure(0.80, 0.75, 0.85)
        figures[figure_key("task1", model, "relu", "match_fraction")] = _figure(0.05, 0.0, 0.10)
        figures[figure_key("task1", model, "exponential", "test_aupr")] = _figure(0.90, 0.91, 0.92)
        figures[figure_key("task1", model, "relu", "test_aupr")] = _figure(0.89, 0.90, 0.91)
        figures[figure_key("task1", model, "sigmoid", "test_aupr")] = _figure(0.88, 0.89, 0.90)
    figures["localization/cnn_deep/exponential/auroc"] = _figure(0.88, 0.90)
    figures["localization/cnn_deep/relu/auroc"] = _figure(0.40, 0.38)
    figures["localization/pwm_baseline/auroc"] = _figure(0.90)
    for model in ("cnn_local", "cnn_dist"):
        for method in METHODS:
            for activation, value in (("exponential", 0.80), ("relu", 0.60), ("tanh", 0.55)):
                key = figure_key("task3", model, activation, method, "interpretability_auroc")
                figures[key] = _figure(value, value + 0.02)
    figures["task6/residualbind/relu/test_auroc"] = _figure(0.975)
    figures["task6/residualbind/exponential/test_auroc"] = _figure(0.990)
    steps = {name: {"status": "done", "reason": ""} for name in ("task1", "localization", "task3", "task6")}
    return {"figures": figures, "steps": steps}


def _claims(results: dict) -> dict:
    return {claim.claim_id: claim for claim in check_claims(results)}


# --------------------------------------------------------------------------- summarize


def test_summarize_gives_mean_and_sample_sd():
    figure = summarize([0.1, 0.2, 0.3], [0, 1, 2])
    assert figure["n"] == 3 and figure["seeds"] == [0, 1, 2]
    assert figure["mean"] == pytest.approx(0.2)
    assert figure["sd"] == pytest.approx(0.1)  # ddof 1: sqrt((0.01 + 0 + 0.01) / 2)


def test_summarize_leaves_undefined_values_out_and_has_no_sd_for_one_value():
    figure = summarize([0.5, float("nan"), None], [3, 4, 5])
    assert figure["values"] == [0.5, None, None]
    assert figure["n"] == 1 and figure["mean"] == 0.5 and figure["sd"] is None
    empty = summarize([float("nan")], [0])
    assert empty["n"] == 0 and empty["mean"] is None and empty["sd"] is None


def test_summarize_refuses_values_without_their_seeds():
    with pytest.raises(ValueError, match="one per seed"):
        summarize([0.1, 0.2], [0])


def test_format_figure():
    assert format_figure(summarize([0.1, 0.2, 0.3], [0, 1, 2])) == "0.200 ± 0.100 (n=3)"
    assert format_figure(summarize([0.25], [0])) == "0.250 (n=1)"
    assert format_figure(None) == "–"


# --------------------------------------------------------------------------- a passing set


def test_a_paper_like_result_set_passes_every_claim():
    claims = check_claims(paper_like())
    assert [claim.claim_id for claim in claims] == CLAIM_IDS
    assert [claim.status for claim in claims] == [HOLDS] * 6, format_claims(claims)
    by_id = {claim.claim_id: claim for claim in claims}
    assert by_id["C1a"].numbers["difference"] == pytest.approx(0.80 - 0.05)
    assert by_id["C3"].numbers["exponential_minus_pwm"] == pytest.approx(0.89 - 0.90)
    assert by_id["C5"].numbers["differences"]["relu"] == pytest.approx(0.975 - 0.985)
    assert by_id["C5"].numbers["differences"]["exponential"] == pytest.approx(0.990 - 0.982)
    assert all(claim.why_not == "" for claim in claims)


# --------------------------------------------------------------------------- failing sets


def test_c1_fails_when_relu_matches_at_least_as_often():
    results = paper_like()
    results["figures"]["task1/cnn_2/relu/match_fraction"] = _figure(0.80, 0.75, 0.85)  # a tie
    results["figures"]["task1/cnn_deep/relu/match_fraction"] = _figure(0.9, 0.9, 0.9)
    claims = _claims(results)
    assert claims["C1a"].status == FAILS and claims["C1b"].status == FAILS
    assert claims["C1a"].numbers["difference"] == pytest.approx(-0.1)
    assert "exponential 0.800 ± 0.050 (n=3) vs relu 0.900 ± 0.000 (n=3)" in claims["C1a"].detail


def test_c2_uses_the_aupr_margin_on_every_model_and_activation():
    margin = THRESHOLDS["classification_aupr_margin"]
    results = paper_like()
    relu = results["figures"]["task1/cnn_50/relu/test_aupr"]["mean"]
    results["figures"]["task1/cnn_50/sigmoid/test_aupr"] = _figure(relu - margin + 0.001)
    assert _claims(results)["C2"].status == HOLDS
    results["figures"]["task1/cnn_50/sigmoid/test_aupr"] = _figure(relu - margin - 0.001)
    claim = _claims(results)["C2"]
    assert claim.status == FAILS
    assert claim.numbers["differences"]["cnn_50/sigmoid"] == pytest.approx(-margin - 0.001)
    assert "largest |difference| cnn_50/sigmoid" in claim.detail
    # Better than relu by more than the margin is not "comparable" either.
    results = paper_like()
    results["figures"]["task1/cnn_deep/exponential/test_aupr"] = _figure(0.95)
    assert _claims(results)["C2"].status == FAILS


def test_c3_needs_both_near_the_pwm_scan_and_far_above_relu():
    results = paper_like()
    results["figures"]["localization/cnn_deep/exponential/auroc"] = _figure(0.84)  # PWM 0.90 - 0.06
    claim = _claims(results)["C3"]
    assert claim.status == FAILS and "too low" in claim.detail
    results = paper_like()
    results["figures"]["localization/cnn_deep/relu/auroc"] = _figure(0.70)  # exponential 0.89: gap 0.19
    claim = _claims(results)["C3"]
    assert claim.status == FAILS and "too small" in claim.detail
    # Above the PWM scan is fine ("within" bounds only how much lower it may be).
    results = paper_like()
    results["figures"]["localization/cnn_deep/exponential/auroc"] = _figure(0.99)
    assert _claims(results)["C3"].status == HOLDS


def test_c4_fails_when_another_activation_wins_one_method_of_one_model():
    results = paper_like()
    results["figures"]["task3/cnn_dist/tanh/deepshap/interpretability_auroc"] = _figure(0.85)
    claim = _claims(results)["C4"]
    assert claim.status == FAILS
    assert claim.numbers["margins"]["cnn_dist/deepshap"] == pytest.approx(0.81 - 0.85)
    assert claim.numbers["margins"]["cnn_local/ism"] == pytest.approx(0.81 - 0.61)
    assert "not the best for cnn_dist/deepshap" in claim.detail


def test_c5_fails_when_one_activation_is_off_by_more_than_the_margin():
    results = paper_like()
    results["figures"]["task6/residualbind/exponential/test_auroc"] = _figure(0.955)  # 0.982 - 0.027
    claim = _claims(results)["C5"]
    assert claim.status == FAILS
    assert claim.numbers["differences"]["exponential"] == pytest.approx(-0.027)


# --------------------------------------------------------------------------- absent inputs


def test_a_small_budget_set_leaves_cnn_2_not_evaluated_and_says_why():
    results = paper_like()
    for key in [key for key in results["figures"] if key.startswith("task1/cnn_2/")]:
        del results["figures"][key]
    claims = _claims(results)
    assert claims["C1b"].status == NOT_EVALUATED
    assert claims["C1b"].why_not == "budget" and claims["C1b"].label == "not evaluated (budget)"
    assert "task1/cnn_2/exponential/match_fraction" in claims["C1b"].detail
    assert claims["C1a"].status == HOLDS  # the CNN-deep half still runs
    assert claims["C2"].status == HOLDS and "cnn_2" not in claims["C2"].numbers["relu"]


def test_a_skipped_or_failed_step_is_named_instead_of_the_budget():
    results = paper_like()
    for key in [key for key in results["figures"] if key.startswith(("task6/", "task3/"))]:
        del results["figures"][key]
    results["steps"]["task6"] = {"status": "skipped", "reason": "the IRF1 file /x.h5 is not there"}
    results["steps"]["task3"] = {"status": "failed", "reason": "JobFailed: out of memory"}
    claims = _claims(results)
    assert claims["C5"].status == NOT_EVALUATED and claims["C5"].label == "not evaluated (skipped)"
    assert "IRF1 file /x.h5" in claims["C5"].detail
    assert claims["C4"].status == NOT_EVALUATED and claims["C4"].why_not == "failed"
    assert "out of memory" in claims["C4"].detail
    results["steps"]["task6"] = {"status": "not run", "reason": ""}  # a checkpoint written mid-run
    assert _claims(results)["C5"].label == "not evaluated (not run)"


def test_comparisons_need_a_second_activation():
    results = paper_like()
    results["figures"] = {
        key: value
        for key, value in results["figures"].items()
        if not (key.startswith("task3/") and "/exponential/" not in key)
        and not (key.startswith("task1/") and key.endswith("test_aupr") and "/relu/" not in key)
    }
    claims = _claims(results)
    assert claims["C4"].status == NOT_EVALUATED  # exponential alone: nothing to beat
    assert claims["C2"].status == NOT_EVALUATED  # relu alone: nothing to compare


def test_an_empty_result_set_evaluates_nothing():
    claims = check_claims({})
    assert [claim.status for claim in claims] == [NOT_EVALUATED] * 6
    assert {claim.why_not for claim in claims} == {"budget"}


def test_a_figure_without_a_mean_counts_as_absent():
    results = paper_like()
    results["figures"]["localization/pwm_baseline/auroc"] = summarize([float("nan")], [0])
    assert _claims(results)["C3"].status == NOT_EVALUATED


def test_the_checker_does_not_modify_its_input():
    results = paper_like()
    before = copy.deepcopy(results)
    check_claims(results)
    assert results == before


def test_format_claims_prints_a_status_and_the_numbers_per_claim():
    results = paper_like()
    del results["figures"]["task1/cnn_2/relu/match_fraction"]
    text = format_claims(check_claims(results))
    lines = text.splitlines()
    assert len(lines) == 6
    assert lines[0].startswith("[holds] C1a: CNN-deep")
    assert "ground-truth motif — exponential 0.800 ± 0.050 (n=3) vs relu" in lines[0]
    assert lines[1].startswith("[not evaluated (budget)] C1b: CNN-2")
    assert lines[1].endswith("(no figures task1/cnn_2/relu/match_fraction)")


def test_claims_serialise_to_json_ready_dicts():
    data = check_claims(paper_like())[3].to_json()
    assert set(data) == {"id", "text", "status", "label", "detail", "numbers", "why_not"}
    assert data["id"] == "C3" and data["label"] == "holds"


# --------------------------------------------------------------------------- the reference table


def test_the_paper_values_are_the_ones_in_the_text():
    pinned = {
        "localization/cnn_deep/exponential/auroc": (0.889, 0.201),
        "localization/cnn_deep/relu/auroc": (0.391, 0.331),
        "localization/pwm_baseline/auroc": (0.884, 0.252),
        "task6/residualbind/relu/test_auroc": (0.985, None),
        "task6/residualbind/exponential/test_auroc": (0.982, None),
        "modified/cnn_deep/log_relu/test_aupr": (0.980, 0.003),
        "task1/cnn_2/softplus/match_any_fraction": (0.366, None),
    }
    for key, (value, sd) in pinned.items():
        assert (REFERENCES[key].value, REFERENCES[key].sd) == (value, sd), key
    text = (Path(__file__).resolve().parents[3] / "shared" / "paper").glob("*.txt")
    paper = next(text, None)
    if paper is not None:  # the paper text lives in ../shared; check the numbers appear there
        body = paper.read_text()
        for needle in (
            "0.889±0.201",
            "0.391±0.331",
            "0.884±0.252",
            "0.985 and 0.982",
            "0.980±0.003",
            "36.6%",
        ):
            assert needle in body, needle


def test_every_reference_is_well_formed():
    keys = [reference.key for reference in PAPER_REFERENCES]
    assert len(keys) == len(set(keys))
    for reference in PAPER_REFERENCES:
        assert reference.source and reference.statement
        assert reference.key.split("/")[0] in (
            "task1",
            "localization",
            "modified",
            "task3",
            "task6",
            "scaling",
        )
        if reference.value is not None:
            assert 0.0 <= reference.value <= 1.0 and not math.isnan(reference.value)
            assert reference.text().startswith(f"{reference.value:.3f}")
        else:
            assert reference.sd is None and reference.text() == reference.statement


# --------------------------------------------------------------------------- the committed small run

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "results" / "small"


def test_committed_small_run_is_complete_and_its_claims_recheck():
    """docs/results/small: every step of the budget ran, and the checker still says what was committed."""
    results = json.loads((COMMITTED / "results.json").read_text())
    assert results["budget"]["name"] == "small"
    assert results["environment"]["date"] and results["environment"]["cpu_count"] >= 1
    assert {name: step["status"] for name, step in results["steps"].items()} == {
        "task1": "done",
        "localization": "done",
        "modified": "done",
        "task3": "done",
        "task6": "done",
        "scaling": "not in budget",
    }
    rechecked = [(c.claim_id, c.status, c.detail) for c in check_claims(results)]
    committed = [(c["id"], c["status"], c["detail"]) for c in results["claims"]]
    assert rechecked == committed
    html = (COMMITTED / "reproduce.html").read_text()
    for claim_id, _, _ in committed:
        assert claim_id in html
    images = sorted(set(re.findall(r'src="(figures/[^"]+\.png)"', html)))
    assert len(images) >= 15
    for image in images:
        assert (COMMITTED / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
