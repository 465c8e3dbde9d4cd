"""HTML report of an :class:`~motiflens_client.experiments.results.ExperimentResult`, in the paper's figures.

:func:`write_report` writes ``report.html`` and its PNG figures into one directory.
The page is viewable offline: images are referenced by relative paths, the CSS is
inline, and there is no JavaScript. Figures (paper numbering):

- Fig. 1a: the activation functions on x in [-3, 3] (computed with numpy);
- Fig. 1b: first-layer filter logos (information content) of one run per
  (model, activation), titled with each filter's best Tomtom hit;
- Fig. 1c: box plots of the fraction of filters matching the ground truth and
  matching any database motif, per activation and model;
- a table of classification metrics (per run, and mean ± sd per group);
- Task 3 only: Fig. 2d, attribution logos of one example sequence per
  (model, activation) with the ground truth when available, and Fig. 2b–c,
  interpretability AUROC/AUPR against classification AUROC per attribution method.

Needs matplotlib and logomaker (the SDK's optional ``plots`` extra:
``pip install 'motiflens-client[plots]'``); both are imported when
:func:`write_report` is called. Figures are drawn on ``matplotlib.figure.Figure``
objects directly, so the caller's pyplot backend and state are left alone.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path

from motiflens_client.experiments.figures import (
    CSS,
    activation_colours,
    first_seed_runs,
    format_metric,
    metrics_tables,
    plot_activations,
    plot_attribution,
    plot_filters,
    plot_interpretability,
    plot_match_fractions,
    slug,
)
from motiflens_client.experiments.results import RESULTS_CSV, RESULTS_JSON, ExperimentResult

REPORT_HTML = "report.html"


def write_report(result: ExperimentResult, directory: str | os.PathLike) -> Path:
    """Write ``report.html`` and its PNG figures into ``directory``.

    Parameters
    ----------
    result : ExperimentResult
        From :meth:`Experiment.run` or :meth:`ExperimentResult.load`.
    directory : str or path-like
        Created (with parents) if missing; existing report files are overwritten.
        When ``results.json``/``results.csv`` are there (``result.save(directory)``),
        the page links to them.

    Returns
    -------
    Path
        The path of ``report.html``.

    Raises
    ------
    ImportError
        matplotlib or logomaker is missing (install the SDK's ``plots`` extra).
    """
    try:
        import logomaker  # noqa: F401 - checked here so the error names the extra
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "write_report needs matplotlib and logomaker: pip install 'motiflens-client[plots]'"
        ) from exc
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    page = _Page(result)
    colours = activation_colours(result)

    page.heading(2, "Activation functions (Fig. 1a)")
    plot_activations(directory / "activations.png")
    page.figure(
        "activations.png",
        "Activation functions",
        "The first-layer activations compared in the paper, plotted on x in [-3, 3] "
        "(each panel has its own y scale). The exponential is the only one that "
        "suppresses negative inputs and grows faster than linearly for positive ones.",
    )

    page.heading(2, "Filters matching known motifs (Fig. 1c)")
    plot_match_fractions(result, colours, directory / "match_fraction.png")
    page.figure(
        "match_fraction.png",
        "Match fractions",
        f"Fraction of first-layer filters whose Tomtom hits (E &lt; 0.1, {html.escape(_database(result))}) "
        f"include a ground-truth motif (left; {_ground_truth_text(result)}) and any database motif "
        f"(right; hits to MA0615.1 Gmeb1 discounted), per activation and model; one point per seed. "
        f"{_setup_text(result)}",
    )

    page.heading(2, "First-layer filters (Fig. 1b)")
    for run in first_seed_runs(result):
        if run.filters is None or run.filters.num_filters == 0:
            continue
        name = f"filters_{slug(run.model)}_{slug(run.activation)}.png"
        plot_filters(run, directory / name)
        page.heading(3, f"{run.model}, {run.activation} (seed {run.seed})")
        page.figure(
            name,
            f"Filters of {run.model} with {run.activation}",
            f"Information-content logos (bits) of the {run.filters.num_filters} first-layer filters "
            f"of {html.escape(run.model)} ({html.escape(run.activation)} first layer, seed {run.seed}, "
            f"model <code>{html.escape(run.model_id)}</code>): each filter's PWM aligns the test "
            f"sequences' windows where its activation exceeds half its maximum "
            f"({result.dataset.get('num_test', '?')} test sequences scanned). Titles give the best Tomtom "
            f"hit in {html.escape(_database(result))} (E &lt; 0.1); green: a ground-truth TF, "
            f"black: another motif, grey: no hit. Ground-truth match fraction "
            f"{format_metric(run.match_fraction)}, any-motif fraction "
            f"{format_metric(run.match_any_fraction)}.",
        )

    page.heading(2, "Classification")
    page.raw(metrics_tables(result))
    page.raw(
        f"<p>Test-set AUROC and AUPR of the best-validation weights "
        f"({'mean over the 12 labels' if result.task == 1 else 'binary task'}). {_setup_text(result)}</p>"
    )

    if result.task == 3:
        _task3_sections(result, colours, directory, page)

    if any(run.trust for run in result.runs):
        page.heading(2, "Can the explanations be trusted?")
        page.raw(trust_tables(result))

    if result.notes:
        page.heading(2, "Notes")
        for note in result.notes:
            page.raw(f'<p class="note">{html.escape(note)}</p>')

    path = directory / REPORT_HTML
    path.write_text(page.render(directory))
    return path


# --------------------------------------------------------------------------- page


class _Page:
    """Collects the body of the HTML page."""

    def __init__(self, result: ExperimentResult):
        self.result = result
        self.parts: list[str] = []

    def heading(self, level: int, text: str) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def figure(self, source: str, alt: str, caption: str) -> None:
        """An image with a caption (``caption`` is HTML; callers escape user text)."""
        self.parts.append(
            f'<figure><img src="{html.escape(source)}" alt="{html.escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )

    def raw(self, fragment: str) -> None:
        self.parts.append(fragment)

    def render(self, directory: Path) -> str:
        result = self.result
        title = f"motiflens experiment{': ' + result.config['name'] if result.config.get('name') else ''}"
        downloads = [name for name in (RESULTS_JSON, RESULTS_CSV) if (directory / name).is_file()]
        links = (
            "Results beside this page: "
            + ", ".join(f'<a href="{name}">{name}</a>' for name in downloads)
            + "."
            if downloads
            else ""
        )
        seconds = result.seconds
        took = (
            "" if seconds is None or math.isnan(seconds) else f" The experiment took {seconds / 60:.1f} min."
        )
        intro = (
            f"<p>Koo &amp; Ploenzke (2021): exponential first-layer activations make CNN filters "
            f"learn real motifs. {_setup_text(result)}{took} {links}</p>"
        )
        body = "\n".join(self.parts)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n{intro}\n{body}\n</body>\n</html>\n"
        )


# --------------------------------------------------------------------------- captions


def _database(result: ExperimentResult) -> str:
    return str(result.config.get("database") or "JASPAR2016")


def _ground_truth_text(result: ExperimentResult) -> str:
    if result.task == 3:
        return "Task 3's core TFs SP1, Gabpa, CEBPB, MAX, YY1"
    return "Task 1's 12 TFs"


def _setup_text(result: ExperimentResult) -> str:
    config, data = result.config, result.dataset
    epochs = config.get("epochs") or 0
    patience = config.get("patience") or 0
    seeds = ", ".join(str(seed) for seed in config.get("seeds", []))
    trained = sorted({run.epochs for run in result.runs})
    trained_text = ""
    if trained:
        trained_text = (
            f" (trained {trained[0]} epochs)"
            if len(trained) == 1
            else f" (trained {trained[0]}–{trained[-1]} epochs)"
        )
    return html.escape(
        f"Task {config.get('task')}: {data.get('num_train', '?')}/{data.get('num_valid', '?')}/"
        f"{data.get('num_test', '?')} train/valid/test sequences of {data.get('sequence_length', '?')} nt "
        f"(data set {data.get('dataset_id', '?')}); models {', '.join(config.get('models', []))}; "
        f"activations {', '.join(config.get('activations', []))}; seeds {seeds}; "
        f"up to {epochs or 100} epochs{'' if epochs else ' (trainer default)'}, early-stopping "
        f"patience {patience or 20}{'' if patience else ' (trainer default)'}{trained_text}."
    )


# --------------------------------------------------------------------------- Task 3


def _task3_sections(result: ExperimentResult, colours: dict, directory: Path, page: _Page) -> None:
    methods = list(result.attribution_methods)
    example = result.example
    page.heading(2, "Attribution maps of one sequence (Fig. 2d)")
    if example is None:
        page.raw('<p class="note">No example sequence was attributed.</p>')
    else:
        if example.ground_truth is None:
            page.raw(
                '<p class="note">The ground-truth panel is omitted: the data set file was not '
                "available locally (the interpreter has no RPC returning ground truth).</p>"
            )
        how = (
            "the first positive test sequence"
            if example.selected_by == "label"
            else "the first test sequence the first model predicts positive"
        )
        for run in first_seed_runs(result):
            if not run.attributions:
                continue
            name = f"attribution_{slug(run.model)}_{slug(run.activation)}.png"
            plot_attribution(run, example, directory / name)
            page.heading(3, f"{run.model}, {run.activation} (seed {run.seed})")
            page.figure(
                name,
                f"Attribution maps of {run.model} with {run.activation}",
                html.escape(
                    f"Test sequence {example.index} ({how}) attributed by {run.model} with a "
                    f"{run.activation} first layer (seed {run.seed}), logit of output 0. Saliency, "
                    f"integrated gradients (10 shuffled references, 20 steps) and DeepSHAP "
                    f"(10 shuffled references) are shown times the input (only the observed base); "
                    f"ISM as the L2 norm of the three substitution effects per position, drawn on the "
                    f"observed base."
                    + (
                        " Top row: the ground-truth sequence model (information content)."
                        if example.ground_truth is not None
                        else ""
                    )
                    + (
                        " The sequence was recovered from the attribution maps (data set not local)."
                        if example.one_hot_source != "dataset"
                        else ""
                    )
                ),
            )
    page.heading(2, "Interpretability vs classification (Fig. 2b–c)")
    counts = sorted({score.num_sequences for run in result.runs for score in run.interpretability.values()})
    count_text = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}" if counts else "no"
    for kind, label in (("auroc", "AUROC"), ("aupr", "AUPR")):
        name = f"interpretability_{kind}.png"
        plot_interpretability(result, methods, kind, colours, directory / name)
        page.figure(
            name,
            f"Interpretability {label} vs classification AUROC",
            html.escape(
                f"Interpretability {label} (mean over {count_text} positive test sequences of the "
                f"per-sequence {label} of position scores against ground-truth motif positions) against "
                f"test classification AUROC, one panel per attribution method, one point per run "
                f"(colour: activation, marker: model). "
            )
            + _setup_text(result),
        )


# --------------------------------------------------------------------------- trust

#: Ground-truth-free trust scores: (key in the report, column title, higher is better).
TRUST_SCORES = (
    ("filter_match_excess", "filter match − chance", True),
    ("mean_method_agreement", "method agreement", True),
    ("reference_stability", "reference stability", True),
    ("reverse_complement_stability", "RC stability", True),
)


def trust_tables(result: ExperimentResult) -> str:
    """HTML: each model's trust report, then per architecture which activation ranks first on each score."""
    head = (
        "<tr><th>model</th><th>activation</th><th>seed</th><th>filter match (chance)</th>"
        + "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in TRUST_SCORES)
        + "<th>off-simplex</th><th>ground truth AUROC (saliency / DeepSHAP)</th></tr>"
    )
    rows = []
    for run in result.runs:
        trust = run.trust
        if not trust:
            continue
        truth = trust.get("ground_truth") or {}
        ground = " / ".join(
            format_metric(truth.get(method, {}).get("auroc", math.nan)) for method in ("saliency", "deepshap")
        )
        match = (
            "—"
            if trust.get("filter_match") is None
            else f"{format_metric(trust['filter_match'])} ({format_metric(trust['filter_match_chance'])})"
        )
        cells = [html.escape(run.model), html.escape(run.activation), str(run.seed), match]
        cells += [format_metric(_number(trust.get(key))) for key, _, _ in TRUST_SCORES]
        cells += [format_metric(_number(trust.get("off_simplex_fraction"))), ground if truth else "—"]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    ranking = []
    for model in dict.fromkeys(run.model for run in result.runs if run.trust):
        marks = []
        for key, _title, higher in TRUST_SCORES:
            means: dict[str, list[float]] = {}
            for run in result.runs:
                value = _number(run.trust.get(key)) if run.model == model and run.trust else math.nan
                if math.isfinite(value):
                    means.setdefault(run.activation, []).append(value)
            if len(means) < 2:
                marks.append("—")
                continue
            best = max(means, key=lambda a: (1 if higher else -1) * sum(means[a]) / len(means[a]))
            marks.append(html.escape(best))
        ranking.append(
            f"<tr><td>{html.escape(model)}</td>" + "".join(f"<td>{mark}</td>" for mark in marks) + "</tr>"
        )
    some = next(run.trust for run in result.runs if run.trust)
    return (
        f"<table>{head}{''.join(rows)}</table>"
        "<p>Scores that need no ground truth (<code>Client.trust_report</code>, "
        f"{some.get('num_sequences', '?')} test sequences{' (positives)' if result.task == 3 else ''}): "
        "the fraction of first-layer filters with a Tomtom hit beside the fraction of column-shuffled "
        "filters with one (chance); the mean per-sequence Spearman correlation of saliency, ISM and "
        "DeepSHAP; DeepSHAP with two independent reference sets; DeepSHAP of a sequence and of its "
        "reverse complement mapped back; and the share of the saliency gradient off the one-hot "
        "simplex (a diagnostic, not a ranking). The paper's ground-truth interpretability AUROC is "
        "shown where the data set has ground truth.</p>"
        "<table><tr><th>model</th>"
        + "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in TRUST_SCORES)
        + f"</tr>{''.join(ranking)}</table>"
        "<p>The activation with the best mean score per model (higher is better for every column): "
        "the paper's claim is that exponential first layers come first.</p>"
    )


def _number(value) -> float:
    return math.nan if value is None else float(value)
