"""The experiment report renders in a real browser: every <img> of report.html loads.

The report is built from a small synthetic ExperimentResult (no services), copied
with a tiny inline script that records, on window load, each image's source and
``naturalWidth``; headless Chromium prints the resulting DOM (``--dump-dom``).
Needs a ``chromium`` binary (Debian: ``apt-get install chromium``); skipped without one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("logomaker")

from motiflens_client.experiments import (  # noqa: E402
    ExampleSequence,
    ExperimentResult,
    FilterSet,
    InterpretabilityScore,
    RunResult,
    write_report,
)

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

PROBE = """
<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var states = images.map(function (img) {
    return {src: img.getAttribute("src"), width: img.naturalWidth, complete: img.complete};
  });
  var out = document.createElement("pre");
  out.id = "image-probe";
  out.textContent = JSON.stringify(states);
  document.body.appendChild(out);
  document.body.dataset.imagesOk = String(states.every(function (s) { return s.width > 0; }));
});
</script>
"""


def _chromium() -> str | None:
    for name in ("/usr/bin/chromium", *CHROMIUM_CANDIDATES):
        path = shutil.which(name)
        if path:
            return path
    return None


#: Known trust scores: exponential ahead on three, relu on reference stability.
TRUST = {
    "relu": {
        "filter_match": 0.2,
        "filter_match_chance": 0.1,
        "filter_match_excess": 0.1,
        "mean_method_agreement": 0.6,
        "reference_stability": 0.95,
        "reverse_complement_stability": 0.5,
        "off_simplex_fraction": 0.4,
    },
    "exponential": {
        "filter_match": 0.6,
        "filter_match_chance": 0.1,
        "filter_match_excess": 0.5,
        "mean_method_agreement": 0.8,
        "reference_stability": 0.9,
        "reverse_complement_stability": 0.7,
        "off_simplex_fraction": 0.6,
    },
}


def synthetic_result(task: int = 3) -> ExperimentResult:
    rng = np.random.default_rng(0)
    length, width, count = 200, 19, 6
    runs = []
    for activation in ("relu", "exponential"):
        for seed in (0, 1):
            pwms = rng.dirichlet(np.full(4, 0.3), size=(count, width))
            names = ("SP1", "", "Gmeb1", "YY1", "", "MAX")
            ids = ("MA0079.3", "", "MA0615.1", "MA0095.2", "", "MA0058.3")
            truth = (("SP1",), (), (), ("YY1",), (), ("MAX",))
            filters = FilterSet(
                pwms=pwms,
                num_sites=tuple(int(v) for v in rng.integers(0, 50, count)),
                best_hit_ids=ids,
                best_hit_names=names,
                best_hit_evalues=tuple(1e-3 if name else float("nan") for name in names),
                hit_ids=tuple((i,) if i else () for i in ids),
                ground_truth_tfs=truth,
            )
            interpretability = {}
            attributions = {}
            if task == 3:
                for method in ("saliency", "ism", "integrated_gradients", "deepshap"):
                    value = float(rng.uniform(0.5, 0.95))
                    interpretability[method] = InterpretabilityScore(value, 0.1, value - 0.2, 0.1, 40)
                    attributions[method] = rng.normal(size=(length, 4)).astype(np.float32)
            runs.append(
                RunResult(
                    model="cnn_local",
                    activation=activation,
                    seed=seed,
                    model_id=f"model-{activation}{seed}",
                    job_id=f"job-{activation}{seed}",
                    epochs=5,
                    test_auroc=float(rng.uniform(0.8, 0.95)),
                    test_aupr=float(rng.uniform(0.7, 0.9)),
                    match_fraction=3 / count,
                    match_any_fraction=3 / count,
                    covered_tfs=("MAX", "SP1", "YY1"),
                    interpretability=interpretability,
                    train_seconds=12.5,
                    filters=filters,
                    attributions=attributions,
                    trust=TRUST[activation]
                    | {"num_sequences": 40, "ground_truth": {"saliency": {"auroc": 0.7}}},
                )
            )
    example = None
    if task == 3:
        one_hot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, length)]
        truth = np.full((length, 4), 0.25, dtype=np.float32)
        truth[50:60] = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 10)]
        example = ExampleSequence(
            index=3, selected_by="label", one_hot=one_hot, one_hot_source="dataset", ground_truth=truth
        )
    return ExperimentResult(
        config={
            "task": task,
            "models": ["cnn_local"],
            "activations": ["relu", "exponential"],
            "seeds": [0, 1],
            "num_sequences": 1000,
            "epochs": 5,
            "patience": 3,
            "database": "JASPAR2016",
            "attribution_methods": ["saliency", "ism", "integrated_gradients", "deepshap"]
            if task == 3
            else [],
            "interpretability_limit": 40,
            "name": "render-test",
            "data_seed": 0,
        },
        dataset={
            "dataset_id": "ds-" + "0" * 32,
            "num_train": 700,
            "num_valid": 100,
            "num_test": 200,
            "sequence_length": length,
            "num_targets": 1,
            "label_names": [],
            "seed": 0,
            "has_ground_truth": True,
        },
        runs=runs,
        example=example,
        notes=["A note <with> markup to escape."],
        seconds=61.0,
    )


class _ImageSources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("report")
    result = synthetic_result(task=3)
    result.save(directory)
    return write_report(result, directory)


def test_report_is_self_contained(report: Path):
    text = report.read_text()
    parser = _ImageSources()
    parser.feed(text)
    # activations, match fractions, 2 filter grids, 2 attribution maps, 2 interpretability plots
    assert len(parser.sources) == 8
    for source in parser.sources:
        assert not re.match(r"^[a-z]+:|^/", source), f"{source} is not a relative path"
        assert (report.parent / source).is_file()
    assert "<script" not in text and "http://" not in text and "https://" not in text
    stray = re.findall(r".{0,30}<(?![a-zA-Z/!]).{0,10}", text)
    assert stray == [], f"unescaped '<' in the page: {stray}"
    assert "Tomtom hits (E &lt; 0.1, JASPAR2016)" in text
    assert "A note &lt;with&gt; markup" in text
    assert 'href="results.json"' in text and 'href="results.csv"' in text


def test_every_image_loads_in_headless_chromium(report: Path, tmp_path: Path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium); cannot render the report")
    probe_dir = tmp_path / "copy"
    shutil.copytree(report.parent, probe_dir)
    page = probe_dir / "report.html"
    page.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    environment = {**os.environ, "HOME": str(tmp_path)}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
    assert completed.returncode == 0, completed.stderr[-2000:]
    match = re.search(r'<pre id="image-probe">(.*?)</pre>', completed.stdout, re.S)
    assert match, f"the probe did not run; DOM tail: {completed.stdout[-1000:]}"
    states = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(states) == 8
    broken = [state["src"] for state in states if not state["width"] > 0]
    assert broken == [], f"images that did not load: {broken}"
    assert 'data-images-ok="true"' in completed.stdout


def test_trust_section_ranks_activations_by_each_score(report: Path):
    text = report.read_text()
    assert "Can the explanations be trusted?" in text
    rows = re.findall(r"<tr><td>cnn_local</td>((?:<td>[^<]*</td>){4})</tr>", text)
    assert rows, "no ranking row"
    assert re.findall(r"<td>([^<]*)</td>", rows[-1]) == ["exponential", "exponential", "relu", "exponential"]
    assert "0.600 (0.100)" in text and "<td>0.700 / " in text
    saved = ExperimentResult.load(report.parent)
    assert (
        saved.runs[2].trust["filter_match_excess"] == 0.5
        and saved.runs[0].trust["reference_stability"] == 0.95
    )
