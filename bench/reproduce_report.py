"""``reproduce.html``: the reproduction's figures beside the paper's, with the experiment-report plots.

:func:`write_report` reads the ``results.json`` document that ``bench/reproduce.py``
assembles and the per-experiment results it saved under ``experiments/``, and
writes ``reproduce.html`` plus ``figures/*.png`` into the output folder. The page
is viewable offline (relative image paths, inline CSS, no JavaScript). The plots
reuse the experiment report's helpers (:mod:`motiflens_client.experiments.figures`): match
fraction box plots, filter logos, attribution logos and interpretability scatter
plots; the localisation chart and the Task 6 saliency panel are drawn here.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from motiflens_client.experiments import ExperimentResult, FilterSet, RunResult
from motiflens_client.experiments.figures import (
    CSS,
    activation_colours,
    draw_logo,
    first_seed_runs,
    metrics_tables,
    new_figure,
    plot_activations,
    plot_attribution,
    plot_filters,
    plot_interpretability,
    plot_match_fractions,
    save_figure,
    slug,
)
from reproduce_claims import PAPER_REFERENCES, REFERENCES, THRESHOLDS, format_figure

REPORT_HTML = "reproduce.html"
FIGURES_DIR = "figures"
#: Filter logos per model in a brief report (budget ``report_brief``).
BRIEF_FILTERS = 8
#: Nucleotides of the Task 6 saliency panel, centred on the top window.
SALIENCY_SPAN = 100

_STATUS_COLOURS = {"holds": "#1e8449", "does not hold": "#c0392b", "not evaluated": "#7f8c8d"}


def write_report(results: Mapping, output: str | Path) -> Path:
    """Write ``reproduce.html`` and ``figures/*.png`` into ``output``.

    Parameters
    ----------
    results : mapping
        The ``results.json`` document (with ``claims``).
    output : str or Path
        The harness's output folder (holding ``experiments/``); created if missing.

    Returns
    -------
    Path
        The path of ``reproduce.html``.
    """
    output = Path(output)
    brief = bool(results.get("budget", {}).get("report_brief", False))
    figures = output / FIGURES_DIR
    figures.mkdir(parents=True, exist_ok=True)
    page = _Page()
    _header(results, page)
    _claims(results, page)
    _headline(results, page)
    experiments = {step: _load(output, paths) for step, paths in results.get("experiments", {}).items()}
    task1 = _merge(experiments.get("task1", []))
    page.heading(2, "Activation functions (Fig. 1a)")
    plot_activations(figures / "activations.png")
    page.figure(
        "activations.png", "Activation functions", "The first-layer activations of Fig. 1a on [-3, 3]."
    )
    if brief:
        page.paragraph(
            f"Brief report ({results['budget'].get('name')} budget): at most {BRIEF_FILTERS} filter logos "
            "per model, and Task 3 attribution logos for the exponential models only.",
            "note",
        )
    _task1(results, task1, figures, page, brief)
    _localization(results, figures, page)
    _modified(results, task1, _merge(experiments.get("modified", [])), figures, page, brief)
    _task3(results, experiments.get("task3", []), figures, page, brief)
    _task6(results, output, figures, page, brief)
    _scaling(results, _merge(experiments.get("scaling", [])), figures, page)
    _all_figures(results, page)
    if results.get("notes"):
        page.heading(2, "Notes")
        for note in results["notes"]:
            page.raw(f'<p class="note">{html.escape(note)}</p>')
    path = output / REPORT_HTML
    path.write_text(page.render(results))
    return path


# --------------------------------------------------------------------------- page


class _Page:
    """The HTML body, built section by section."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def heading(self, level: int, text: str) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def figure(self, name: str, alt: str, caption: str) -> None:
        """An image from ``figures/`` with a caption (``caption`` is HTML; callers escape)."""
        source = f"{FIGURES_DIR}/{name}"
        self.parts.append(
            f'<figure><img src="{html.escape(source)}" alt="{html.escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )

    def paragraph(self, text: str, css: str = "") -> None:
        attribute = f' class="{css}"' if css else ""
        self.parts.append(f"<p{attribute}>{html.escape(text)}</p>")

    def raw(self, fragment: str) -> None:
        self.parts.append(fragment)

    def render(self, results: Mapping) -> str:
        budget = results.get("budget", {}).get("name", "?")
        title = f"motiflens: reproduction of Koo & Ploenzke (2021), {budget} budget"
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n" + "\n".join(self.parts) + "\n</body>\n</html>\n"
        )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1) -> str:
    """An HTML table; cells are HTML (callers escape); the first ``text_columns`` align left."""
    head = "".join(
        f'<th class="{"text" if i < text_columns else ""}">{html.escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"text" if i < text_columns else ""}">{cell}</td>' for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


# --------------------------------------------------------------------------- sections


def _header(results: Mapping, page: _Page) -> None:
    env = results.get("environment", {})
    seconds = results.get("seconds") or 0
    page.raw(
        "<p>Koo &amp; Ploenzke (2021), <i>Improving representations of genomic sequence motifs in "
        "convolutional neural networks with exponential activations</i>, run through the motiflens "
        "services with the Python SDK by <code>bench/reproduce.py</code>. "
        f"Run on {html.escape(str(env.get('date', '?')))}, {seconds / 60:.1f} min; results: "
        '<a href="results.json">results.json</a>.</p>'
    )
    page.heading(2, "Budget and machine")
    page.raw(
        "<ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in results.get("budget_settings", []))
        + "</ul>"
    )
    rows = [[html.escape(key), html.escape(str(value))] for key, value in env.items()]
    page.raw(_table(["", "value"], rows, text_columns=2))
    rows = []
    for name, state in results.get("steps", {}).items():
        seconds = state.get("seconds")
        rows.append(
            [
                html.escape(name),
                html.escape(state.get("status", "")),
                "" if seconds is None else f"{seconds / 60:.1f}",
                html.escape(state.get("reason", "")),
            ]
        )
    page.raw(_table(["step", "status", "minutes", "reason"], rows, text_columns=4))


def _claims(results: Mapping, page: _Page) -> None:
    page.heading(2, "Headline claims")
    rows = []
    for claim in results.get("claims", []):
        rows.append(
            [
                html.escape(claim["id"]),
                html.escape(claim["text"]),
                f'<span style="color:{_STATUS_COLOURS.get(claim["status"], "#000")}">'
                f"{html.escape(claim['label'])}</span>",
                html.escape(claim["detail"]),
            ]
        )
    page.raw(_table(["claim", "statement", "status", "numbers"], rows, text_columns=4))
    page.paragraph(
        "Margins: "
        + ", ".join(f"{key} {value}" for key, value in THRESHOLDS.items())
        + ". Means are over seeds; a claim whose inputs this budget does not produce is "
        "'not evaluated (budget)', not counted as holding or failing."
    )


def _headline(results: Mapping, page: _Page) -> None:
    page.heading(2, "The paper's values beside ours")
    figures = results.get("figures", {})
    rows = []
    for reference in PAPER_REFERENCES:
        figure = figures.get(reference.key)
        rows.append(
            [
                f"<code>{html.escape(reference.key)}</code>",
                html.escape(reference.text()),
                html.escape(format_figure(figure)) if figure else "not run at this budget",
                html.escape(_extra_text(figure)),
                html.escape(reference.source),
            ]
        )
    page.raw(_table(["figure", "paper", "ours (mean ± sd over seeds)", "ours, more", "source"], rows, 5))
    page.paragraph(
        "The paper's ± for localisation is the standard deviation over test sequences; ours in the "
        "'more' column gives the same per-sequence sd (first seed). Our ground-truth PWM baseline scans "
        "both strands with log-odds scores (the paper's exact scan is not described)."
    )


def _extra_text(figure: Mapping | None) -> str:
    if not figure:
        return ""
    parts = []
    if figure.get("per_sequence_sd"):
        sd = figure["per_sequence_sd"][0]
        if sd is not None:
            parts.append(f"per-sequence sd {sd:.3f}")
    if figure.get("num_sequences"):
        parts.append(f"{figure['num_sequences']} sequences")
    values = [value for value in figure.get("values", []) if value is not None]
    if len(values) > 1:
        parts.append("seeds: " + ", ".join(f"{value:.3f}" for value in values))
    return "; ".join(parts)


def _task1(results: Mapping, task1: ExperimentResult | None, figures: Path, page: _Page, brief: bool) -> None:
    page.heading(2, "Task 1: filters matching the ground truth (Fig. 1b-c)")
    if task1 is None:
        page.paragraph(_step_text(results, "task1"), "note")
        return
    colours = activation_colours(task1)
    plot_match_fractions(task1, colours, figures / "task1_match_fraction.png")
    page.figure(
        "task1_match_fraction.png",
        "Task 1 match fractions",
        "Fraction of first-layer filters whose Tomtom hits (E &lt; 0.1, JASPAR 2016) include a "
        "ground-truth motif (left) and any motif (right, Gmeb1 discounted), one point per seed "
        "(paper: Fig. 1c).",
    )
    for run in first_seed_runs(task1):
        if run.activation not in ("exponential", "relu") or run.filters is None:
            continue
        name = f"task1_filters_{slug(run.model)}_{slug(run.activation)}.png"
        plot_filters(_brief(run, brief), figures / name)
        page.heading(3, f"{run.model}, {run.activation} (seed {run.seed})")
        page.figure(
            name,
            f"Filters of {run.model} with {run.activation}",
            html.escape(
                f"Information-content logos of the first-layer filters (test-set activation alignment); "
                f"titles: best Tomtom hit, green = a ground-truth TF. Match fraction "
                f"{run.match_fraction:.2f}, any-motif fraction {run.match_any_fraction:.2f}."
            ),
        )
    page.heading(3, "Classification and match fractions")
    page.raw(metrics_tables(task1))


def _localization(results: Mapping, figures: Path, page: _Page) -> None:
    page.heading(2, "Motif localisation (Extended Data Fig. 1c-d)")
    data = results.get("figures", {})
    entries = [
        (label, key, REFERENCES[key].value, REFERENCES[key].sd)
        for label, key in (
            ("ground-truth PWM scan", "localization/pwm_baseline/auroc"),
            ("CNN-deep exponential", "localization/cnn_deep/exponential/auroc"),
            ("CNN-deep relu", "localization/cnn_deep/relu/auroc"),
        )
    ]
    if not any(key in data for _, key, _, _ in entries):
        page.paragraph(_step_text(results, "localization"), "note")
        return
    figure = new_figure(7.0, 3.3)
    axis = figure.subplots()
    for row, (_, key, paper, paper_sd) in enumerate(entries):
        entry = data.get(key)
        axis.errorbar(
            paper,
            row + 0.15,
            xerr=paper_sd,
            fmt="D",
            color="#c0392b",
            capsize=3,
            label="paper (mean ± sd over sequences)" if row == 0 else None,
        )
        if entry and entry.get("mean") is not None:
            values = [value for value in entry["values"] if value is not None]
            sd = (entry.get("per_sequence_sd") or [None])[0]
            axis.errorbar(
                entry["mean"],
                row - 0.15,
                xerr=sd,
                fmt="o",
                color="#2c3e50",
                capsize=3,
                label="ours (mean over seeds ± per-sequence sd)" if row == 0 else None,
            )
            axis.scatter(values, [row - 0.15] * len(values), s=12, color="#7f8c8d", zorder=3)
    axis.set_yticks(range(len(entries)))
    axis.set_yticklabels([label for label, *_ in entries])
    axis.set_xlim(0, 1.05)
    axis.set_xlabel("localisation AUROC")
    axis.invert_yaxis()
    axis.spines[["top", "right"]].set_visible(False)
    # Below the axes: inside, it would cover the relu row.
    figure.legend(fontsize=8, frameon=False, loc="lower center", ncol=2)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    save_figure(figure, figures / "localization.png")
    page.figure(
        "localization.png",
        "Localisation AUROC",
        "Per-sequence localisation AUROC on the Task 1 test set (motif regions padded by 10 nt vs the "
        "background between them; region score = maximum scan), mean over sequences. Red: the paper; "
        "dark: ours (grey dots: one per seed).",
    )
    rows = []
    for label, key, paper, paper_sd in entries:
        entry = data.get(key)
        rows.append(
            [
                html.escape(label),
                f"{paper:.3f} ± {paper_sd:.3f}",
                html.escape(format_figure(entry)),
                html.escape(_extra_text(entry)),
            ]
        )
    page.raw(_table(["scan", "paper", "ours", "ours, more"], rows, 1))


def _modified(
    results: Mapping,
    task1: ExperimentResult | None,
    modified: ExperimentResult | None,
    figures: Path,
    page: _Page,
    brief: bool,
) -> None:
    page.heading(2, "Modified activations on CNN-deep (Extended Data Fig. 1a-b)")
    if modified is None:
        page.paragraph(_step_text(results, "modified"), "note")
        return
    reference = [run for run in (task1.runs if task1 else []) if run.model == "cnn_deep"]
    combined = _merge([_subset(task1, reference), modified]) if reference else modified
    plot_match_fractions(combined, activation_colours(combined), figures / "modified_match_fraction.png")
    page.figure(
        "modified_match_fraction.png",
        "Modified activations",
        "Ground-truth and any-motif match fractions of CNN-deep with modified first-layer activations, "
        "beside the Task 1 exponential and relu models.",
    )
    for run in first_seed_runs(modified):
        if run.filters is None:
            continue
        name = f"modified_filters_{slug(run.activation)}.png"
        plot_filters(_brief(run, brief), figures / name)
        page.heading(3, f"cnn_deep, {run.activation} (seed {run.seed})")
        page.figure(
            name, f"Filters with {run.activation}", html.escape(f"Match fraction {run.match_fraction:.2f}.")
        )
    page.raw(metrics_tables(combined))


def _task3(
    results: Mapping, experiments: Sequence[ExperimentResult], figures: Path, page: _Page, brief: bool
) -> None:
    page.heading(2, "Task 3: interpretability of attribution methods (Fig. 2, Extended Data Fig. 2)")
    merged = _merge(list(experiments))
    if merged is None:
        page.paragraph(_step_text(results, "task3"), "note")
        return
    colours = activation_colours(merged)
    methods = list(merged.attribution_methods)
    for kind, label in (("auroc", "AUROC"), ("aupr", "AUPR")):
        name = f"task3_interpretability_{kind}.png"
        plot_interpretability(merged, methods, kind, colours, figures / name)
        page.figure(
            name,
            f"Interpretability {label}",
            html.escape(
                f"Interpretability {label} (mean over positive test sequences of the per-sequence {label} of "
                f"the position scores against the ground-truth motif positions) vs classification AUROC; one "
                f"point per run."
            ),
        )
    plot_match_fractions(merged, colours, figures / "task3_match_fraction.png")
    page.figure(
        "task3_match_fraction.png",
        "Task 3 match fractions",
        "Fraction of first-layer filters matching a core motif (SP1, Gabpa, CEBPB, MAX, YY1) and any motif.",
    )
    for experiment in experiments:
        example = experiment.example
        if example is None:
            continue
        for run in first_seed_runs(experiment):
            if not run.attributions or (brief and run.activation != "exponential"):
                continue
            name = f"task3_attribution_{slug(run.model)}_{slug(run.activation)}.png"
            plot_attribution(run, example, figures / name)
            page.heading(3, f"{run.model}, {run.activation} (seed {run.seed})")
            page.figure(
                name,
                f"Attribution maps of {run.model} with {run.activation}",
                html.escape(
                    f"Test sequence {example.index}: saliency, integrated gradients and DeepSHAP times the "
                    f"input; ISM as the per-position L2 norm"
                    + ("; top row: the ground truth." if example.ground_truth is not None else ".")
                ),
            )
    page.raw(metrics_tables(merged))


def _task6(results: Mapping, output: Path, figures: Path, page: _Page, brief: bool) -> None:
    page.heading(2, "Task 6: ResidualBind on IRF1 ChIP-seq (Fig. 3c)")
    paths = results.get("experiments", {}).get("task6", [])
    if not paths:
        page.paragraph(_step_text(results, "task6"), "note")
        return
    import json

    details = json.loads((output / paths[0] / "results.json").read_text())
    rules = details.get("rules", {})
    page.raw(
        "<ul>"
        + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in rules.items())
        + "</ul>"
    )
    paper = {
        name: REFERENCES[f"task6/residualbind/{name}/test_auroc"].value for name in ("relu", "exponential")
    }
    window, top_count = details.get("window", 19), details.get("top_filters_checked", 5)
    control = details.get("control", {})
    rows = []
    for run in details.get("runs", []):
        windows = run.get("saliency_windows", {})
        rows.append(
            [
                html.escape(run["activation"]),
                str(run["seed"]),
                _number(run.get("test_auroc")),
                f"{paper[run['activation']]:.3f}" if run["activation"] in paper else "–",
                f"{_number(run.get('irf_filter_fraction'), 2)} of {run.get('num_filters', '?')}",
                "yes" if run.get("irf_in_top_filters") else "no",
                html.escape(
                    ", ".join(f"{t['index']}:{t['best_hit'] or '-'}" for t in run.get("top_filters", []))
                ),
                f"{_number(run.get('saliency_irf_fraction'), 2)} ({windows.get('num_irf', 0)}/"
                f"{windows.get('num_windows', 0)})",
                html.escape(", ".join(f"{name} {count}" for name, count in windows.get("top_hits", [])[:4])),
            ]
        )
    page.raw(
        _table(
            [
                "activation",
                "seed",
                "test AUROC",
                "paper",
                "filters with an IRF hit",
                f"IRF in top {top_count} filters",
                "top filters (index: best hit)",
                "saliency windows matching IRF",
                "windows' best hits",
            ],
            rows,
            1,
        )
    )
    page.paragraph(
        f"Control: random {window}-nt windows of the same positive sequences match an "
        f"IRF motif in {_number(control.get('fraction'), 2)} of cases ({control.get('num_irf', 0)}/"
        f"{control.get('num_windows', 0)}). {details.get('num_positives', 0)} positive test sequences."
    )
    for run in _first_per_activation(details.get("runs", [])):
        if not run.get("filters"):
            continue
        filter_set = FilterSet.from_json(run["filters"])
        result_run = RunResult(
            model="residualbind",
            activation=run["activation"],
            seed=run["seed"],
            model_id=run["model_id"],
            job_id=run["job_id"],
            epochs=run["epochs"],
            test_auroc=_float(run.get("test_auroc")),
            test_aupr=_float(run.get("test_aupr")),
            match_fraction=_float(run.get("irf_filter_fraction")),
            match_any_fraction=_float(run.get("match_any_fraction")),
            covered_tfs=(),
            filters=filter_set,
        )
        name = f"task6_filters_{slug(run['activation'])}.png"
        plot_filters(_brief(result_run, brief), figures / name)
        page.heading(3, f"residualbind, {run['activation']} (seed {run['seed']})")
        page.figure(
            name,
            f"IRF1 filters with {run['activation']}",
            html.escape("First-layer filter logos on the test set; green titles: an IRF-family Tomtom hit."),
        )
    examples = [run for run in _first_per_activation(details.get("runs", [])) if run.get("example")]
    if examples:
        _plot_task6_saliency(examples, window, figures / "task6_saliency.png")
        page.figure(
            "task6_saliency.png",
            "Saliency of an IRF1 peak",
            html.escape(
                "Saliency × input (logit) of one positive test sequence per activation (the one with the "
                f"largest total attribution for that model), {SALIENCY_SPAN} nt around the highest-scoring "
                f"{window}-nt window (shaded)."
            ),
        )


def _plot_task6_saliency(runs: Sequence[Mapping], window: int, path: Path) -> None:
    figure = new_figure(16, 1.6 * len(runs) + 0.3)
    axes = np.atleast_1d(figure.subplots(len(runs), 1, squeeze=False)).ravel()
    for axis, run in zip(axes, runs, strict=True):
        example = run["example"]
        scores = np.asarray(example["saliency_times_input"], dtype=np.float64)
        start = example["window_start"]
        # A panel around the window: the whole 400 nt at this width would be unreadable.
        left = int(np.clip(start + window // 2 - SALIENCY_SPAN // 2, 0, max(0, len(scores) - SALIENCY_SPAN)))
        draw_logo(axis, scores[left : left + SALIENCY_SPAN])
        axis.axvspan(start - left - 0.5, start - left + window - 0.5, color="#f0b400", alpha=0.25)
        ticks = list(range(0, min(SALIENCY_SPAN, len(scores)), 10))
        axis.set_xticks(ticks)
        axis.set_xticklabels([str(left + tick) for tick in ticks])
        axis.set_title(f"{run['activation']} (positive {example['positive']})", fontsize=9, loc="left")
        axis.tick_params(labelsize=7)
    figure.tight_layout(pad=0.4)
    save_figure(figure, path)


def _scaling(results: Mapping, scaling: ExperimentResult | None, figures: Path, page: _Page) -> None:
    page.heading(2, "Exponential input scaling exp(s·x) (Supplementary Table 6)")
    if scaling is None:
        page.paragraph(_step_text(results, "scaling"), "note")
        return
    plot_match_fractions(scaling, activation_colours(scaling), figures / "scaling_match_fraction.png")
    page.figure(
        "scaling_match_fraction.png",
        "Scaling study",
        "Match fractions of CNN-deep with exp(s·x) first layers, one point per seed.",
    )
    page.raw(metrics_tables(scaling))


def _all_figures(results: Mapping, page: _Page) -> None:
    page.heading(2, "Every figure")
    rows = []
    for key, figure in results.get("figures", {}).items():
        paper = figure.get("paper")
        paper_text = ""
        if paper:
            paper_text = (
                paper["statement"]
                if paper.get("value") is None
                else f"{paper['value']:.3f}" + ("" if paper.get("sd") is None else f" ± {paper['sd']:.3f}")
            )
        values = ", ".join("–" if value is None else f"{value:.3f}" for value in figure.get("values", []))
        rows.append(
            [
                f"<code>{html.escape(key)}</code>",
                html.escape(format_figure(figure)),
                html.escape(values),
                html.escape(", ".join(str(seed) for seed in figure.get("seeds", []))),
                html.escape(paper_text),
            ]
        )
    page.raw(_table(["figure", "mean ± sd (n)", "values", "seeds", "paper"], rows, 1))


# --------------------------------------------------------------------------- helpers


def _load(output: Path, paths: Sequence[str]) -> list[ExperimentResult]:
    loaded = []
    for relative in paths:
        path = output / relative
        try:
            data = ExperimentResult.load(path)
        except (FileNotFoundError, KeyError, ValueError):
            continue  # Task 6 details are not an ExperimentResult; read by _task6
        loaded.append(data)
    return loaded


def _merge(results: Sequence[ExperimentResult | None]) -> ExperimentResult | None:
    """One result holding every run (config lists unioned in order of appearance)."""
    results = [result for result in results if result is not None and result.runs]
    if not results:
        return None
    config = dict(results[0].config)
    for field in ("models", "activations", "seeds"):
        merged: list = []
        for result in results:
            for value in list(result.config.get(field, [])) + [
                getattr(run, field[:-1]) for run in result.runs
            ]:
                if value not in merged:
                    merged.append(value)
        config[field] = merged
    return ExperimentResult(
        config=config,
        dataset=results[0].dataset,
        runs=[run for result in results for run in result.runs],
        example=results[0].example,
        notes=[note for result in results for note in result.notes],
        seconds=sum(result.seconds for result in results if not math.isnan(result.seconds)),
    )


def _subset(result: ExperimentResult, runs: list[RunResult]) -> ExperimentResult:
    config = dict(result.config)
    config["activations"] = [a for a in config.get("activations", []) if any(r.activation == a for r in runs)]
    config["models"] = sorted({run.model for run in runs})
    return ExperimentResult(config=config, dataset=result.dataset, runs=runs)


def _brief(run: RunResult, brief: bool) -> RunResult:
    """The run with only its first :data:`BRIEF_FILTERS` filters when ``brief``."""
    if not brief or run.filters is None or run.filters.num_filters <= BRIEF_FILTERS:
        return run
    keep = slice(0, BRIEF_FILTERS)
    filters = run.filters
    shortened = FilterSet(
        pwms=filters.pwms[keep],
        num_sites=filters.num_sites[keep],
        best_hit_ids=filters.best_hit_ids[keep],
        best_hit_names=filters.best_hit_names[keep],
        best_hit_evalues=filters.best_hit_evalues[keep],
        hit_ids=filters.hit_ids[keep],
        ground_truth_tfs=filters.ground_truth_tfs[keep],
    )
    return dataclasses.replace(run, filters=shortened)


def _first_per_activation(runs: Sequence[Mapping]) -> list[Mapping]:
    chosen: dict[str, Mapping] = {}
    for run in runs:
        chosen.setdefault(run["activation"], run)
    return list(chosen.values())


def _step_text(results: Mapping, step: str) -> str:
    state = results.get("steps", {}).get(step, {})
    status = state.get("status", "not run")
    reason = state.get("reason", "")
    return f"Step {step}: {status}" + (f" ({reason})." if reason else ".")


def _number(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _float(value) -> float:
    return math.nan if value is None else float(value)
