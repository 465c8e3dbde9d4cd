"""HTML report of an :class:`~motiflens_client.experiment.ExperimentResult`, in the paper's figures.

:func:`write_report` writes ``report.html`` and its PNG figures into one directory.
The page is viewable offline: images are referenced by relative paths, the CSS is
inline, and there is no JavaScript. Figures (paper numbering):

- Fig. 1a: the activation functions on x in [-3, 3] (computed here with numpy);
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
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from motiflens_client.experiment import (
    RESULTS_CSV,
    RESULTS_JSON,
    ExperimentResult,
    RunResult,
)

REPORT_HTML = "report.html"

#: The activations of the paper's Fig. 1a, computed with numpy.
ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exponential": np.exp,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "linear": lambda x: x,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
}

#: Titles of the attribution methods.
METHOD_TITLES = {
    "saliency": "Saliency × input",
    "ism": "In-silico mutagenesis (L2 norm per position)",
    "integrated_gradients": "Integrated gradients",
    "deepshap": "DeepSHAP",
}

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
figure { margin: 1em 0 2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; margin-top: 0.4em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0 1.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f4f4f4; }
td.text, th.text { text-align: left; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 0.8em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


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
    colours = _activation_colours(result)

    page.heading(2, "Activation functions (Fig. 1a)")
    _plot_activations(directory / "activations.png")
    page.figure(
        "activations.png",
        "Activation functions",
        "The first-layer activations compared in the paper, plotted on x in [-3, 3] "
        "(each panel has its own y scale). The exponential is the only one that "
        "suppresses negative inputs and grows faster than linearly for positive ones.",
    )

    page.heading(2, "Filters matching known motifs (Fig. 1c)")
    _plot_match_fractions(result, colours, directory / "match_fraction.png")
    page.figure(
        "match_fraction.png",
        "Match fractions",
        f"Fraction of first-layer filters whose Tomtom hits (E &lt; 0.1, {html.escape(_database(result))}) "
        f"include a ground-truth motif (left; {_ground_truth_text(result)}) and any database motif "
        f"(right; hits to MA0615.1 Gmeb1 discounted), per activation and model; one point per seed. "
        f"{_setup_text(result)}",
    )

    page.heading(2, "First-layer filters (Fig. 1b)")
    for run in _first_seed_runs(result):
        if run.filters is None or run.filters.num_filters == 0:
            continue
        name = f"filters_{_slug(run.model)}_{_slug(run.activation)}.png"
        _plot_filters(run, directory / name)
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
            f"{_format(run.match_fraction)}, any-motif fraction {_format(run.match_any_fraction)}.",
        )

    page.heading(2, "Classification")
    page.raw(_metrics_tables(result))
    page.raw(
        f"<p>Test-set AUROC and AUPR of the best-validation weights "
        f"({'mean over the 12 labels' if result.task == 1 else 'binary task'}). {_setup_text(result)}</p>"
    )

    if result.task == 3:
        _task3_sections(result, colours, directory, page)

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
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
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


def _format(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _mean_sd_text(mean: float, sd: float, n: int) -> str:
    if mean is None or math.isnan(mean):
        return "–"
    return f"{mean:.3f} ± {sd:.3f}" if n > 1 else f"{mean:.3f}"


# --------------------------------------------------------------------------- tables


def _metrics_tables(result: ExperimentResult) -> str:
    per_run = [
        "<table><tr>"
        + "".join(
            f'<th class="{"text" if i < 2 else ""}">{name}</th>'
            for i, name in enumerate(
                [
                    "model",
                    "activation",
                    "seed",
                    "epochs",
                    "test AUROC",
                    "test AUPR",
                    "match ground truth",
                    "match any motif",
                    "covered TFs",
                ]
            )
        )
        + "</tr>"
    ]
    for run in result.runs:
        per_run.append(
            "<tr>"
            f'<td class="text">{html.escape(run.model)}</td>'
            f'<td class="text">{html.escape(run.activation)}</td>'
            f"<td>{run.seed}</td><td>{run.epochs}</td><td>{_format(run.test_auroc)}</td>"
            f"<td>{_format(run.test_aupr)}</td><td>{_format(run.match_fraction)}</td>"
            f"<td>{_format(run.match_any_fraction)}</td>"
            f'<td class="text">{html.escape(", ".join(run.covered_tfs) or "–")}</td></tr>'
        )
    per_run.append("</table>")
    summary = result.summary_by_activation()
    columns = ["test_auroc", "test_aupr", "match_fraction", "match_any_fraction"]
    headers = ["test AUROC", "test AUPR", "match ground truth", "match any motif"]
    if result.task == 3:
        for method in result.attribution_methods:
            columns.append(f"{method}_auroc")
            headers.append(f"{method} interpretability AUROC")
    group = [
        "<h3>Mean ± sd over seeds</h3><table><tr>"
        '<th class="text">model</th><th class="text">activation</th><th>runs</th>'
        + "".join(f"<th>{html.escape(header)}</th>" for header in headers)
        + "</tr>"
    ]
    for entry in summary:
        group.append(
            f'<tr><td class="text">{html.escape(entry["model"])}</td>'
            f'<td class="text">{html.escape(entry["activation"])}</td><td>{entry["n"]}</td>'
            + "".join(
                f"<td>{_mean_sd_text(entry[f'{column}_mean'], entry[f'{column}_sd'], entry['n'])}</td>"
                for column in columns
            )
            + "</tr>"
        )
    group.append("</table>")
    return "<h3>Per run</h3>" + "\n".join(per_run) + "\n" + "\n".join(group)


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
        for run in _first_seed_runs(result):
            if not run.attributions:
                continue
            name = f"attribution_{_slug(run.model)}_{_slug(run.activation)}.png"
            _plot_attribution(run, example, directory / name)
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
        _plot_interpretability(result, methods, kind, colours, directory / name)
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


# --------------------------------------------------------------------------- plots


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _save(figure, path: Path) -> None:
    figure.savefig(path, format="png", dpi=100)


def _plot_activations(path: Path) -> None:
    x = np.linspace(-3.0, 3.0, 301)
    figure = _figure(14, 2.4)
    axes = figure.subplots(1, len(ACTIVATION_FUNCTIONS))
    for axis, (name, function) in zip(axes, ACTIVATION_FUNCTIONS.items(), strict=True):
        axis.plot(x, function(x), color="#c0392b" if name == "exponential" else "#2c3e50", lw=2)
        axis.axhline(0, color="#999", lw=0.6)
        axis.axvline(0, color="#999", lw=0.6)
        axis.set_title(name, fontsize=11)
        axis.set_xlim(-3, 3)
        axis.set_xticks([-3, 0, 3])
        axis.tick_params(labelsize=8)
        axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    _save(figure, path)


def _activation_colours(result: ExperimentResult) -> dict[str, str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    tab10 = colormaps["tab10"]
    palette = [to_hex(tab10(i)) for i in range(tab10.N)]
    names = list(result.config.get("activations", []))
    for run in result.runs:
        if run.activation not in names:
            names.append(run.activation)
    colours = {}
    for i, name in enumerate(names):
        colours[name] = "#c0392b" if name == "exponential" else palette[i % len(palette)]
    return colours


def _models(result: ExperimentResult) -> list[str]:
    names = list(result.config.get("models", []))
    for run in result.runs:
        if run.model not in names:
            names.append(run.model)
    return names


def _activations(result: ExperimentResult) -> list[str]:
    names = list(result.config.get("activations", []))
    for run in result.runs:
        if run.activation not in names:
            names.append(run.activation)
    return names


def _plot_match_fractions(result: ExperimentResult, colours: dict, path: Path) -> None:
    models, activations = _models(result), _activations(result)
    figure = _figure(max(6.0, 1.4 * len(activations) * max(1, len(models)) + 2), 3.4)
    axes = figure.subplots(1, 2, sharey=True)
    width = 0.8 / max(1, len(models))
    rng = np.random.default_rng(0)
    for axis, attribute, title in (
        (axes[0], "match_fraction", "match ground truth"),
        (axes[1], "match_any_fraction", "match any motif"),
    ):
        for m, model in enumerate(models):
            for a, activation in enumerate(activations):
                values = [
                    getattr(run, attribute)
                    for run in result.runs
                    if run.model == model
                    and run.activation == activation
                    and not math.isnan(getattr(run, attribute))
                ]
                if not values:
                    continue
                position = a + (m - (len(models) - 1) / 2) * width
                box = axis.boxplot(
                    values, positions=[position], widths=width * 0.8, patch_artist=True, showfliers=False
                )
                for patch in box["boxes"]:
                    patch.set_facecolor(colours[activation])
                    patch.set_alpha(0.35)
                for median in box["medians"]:
                    median.set_color("black")
                jitter = rng.uniform(-width * 0.2, width * 0.2, len(values))
                axis.scatter(
                    position + jitter,
                    values,
                    color=colours[activation],
                    marker=_MARKERS[m % len(_MARKERS)],
                    edgecolor="black",
                    linewidth=0.5,
                    zorder=3,
                    s=30,
                    label=model if a == 0 else None,
                )
        axis.set_xticks(range(len(activations)))
        axis.set_xticklabels(activations, rotation=20)
        axis.set_xlim(-0.6, len(activations) - 0.4)
        axis.set_ylim(-0.03, 1.03)
        axis.set_title(title)
        axis.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("fraction of filters")
    if len(models) > 1:
        axes[1].legend(title="model", fontsize=8, frameon=False)
    figure.tight_layout()
    _save(figure, path)


def _information_matrix(pwm: np.ndarray) -> np.ndarray:
    """Letter heights of an information-content logo: p × (2 + Σ p log2 p)."""
    pwm = np.clip(np.asarray(pwm, dtype=np.float64), 0.0, None)
    totals = pwm.sum(axis=1, keepdims=True)
    pwm = np.divide(pwm, totals, out=np.full_like(pwm, 0.25), where=totals > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(pwm > 0, pwm * np.log2(pwm), 0.0)
    information = 2.0 + plogp.sum(axis=1, keepdims=True)
    return pwm * information


def _logo(axis, matrix: np.ndarray) -> None:
    import logomaker
    import pandas as pd

    frame = pd.DataFrame(np.asarray(matrix, dtype=np.float64), columns=list("ACGT"))
    logomaker.Logo(frame, ax=axis, color_scheme="classic")
    axis.spines[["top", "right"]].set_visible(False)


def _plot_filters(run: RunResult, path: Path) -> None:
    filters = run.filters
    if filters is None or filters.num_filters == 0:
        return  # the caller skips such runs; nothing to draw
    count = filters.num_filters
    columns = 4 if count > 4 else count
    rows = math.ceil(count / columns)
    figure = _figure(3.2 * columns, 1.25 * rows + 0.2)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for i, axis in enumerate(axes):
        if i >= count:
            axis.set_axis_off()
            continue
        _logo(axis, _information_matrix(filters.pwms[i]))
        axis.set_ylim(0, 2)
        axis.set_yticks([0, 2])
        axis.set_xticks([])
        axis.tick_params(labelsize=7)
        if filters.ground_truth_tfs[i]:
            colour = "#1e8449"
        elif filters.best_hit_names[i]:
            colour = "black"
        else:
            colour = "#999999"
        axis.set_title(f"filter {i}: {filters.label(i)}", fontsize=8, color=colour)
    figure.tight_layout(pad=0.4)
    _save(figure, path)


def _attribution_rows(run: RunResult, example) -> list[tuple[str, np.ndarray]]:
    one_hot = np.asarray(example.one_hot, dtype=np.float64)
    rows = []
    if example.ground_truth is not None:
        rows.append(("ground truth (bits)", _information_matrix(example.ground_truth)))
    for method in ("saliency", "ism", "integrated_gradients", "deepshap"):
        scores = run.attributions.get(method)
        if scores is None:
            continue
        scores = np.asarray(scores, dtype=np.float64)
        if method == "ism":
            heights = np.linalg.norm(scores, axis=1, keepdims=True) * one_hot
        else:
            heights = scores * one_hot
        rows.append((METHOD_TITLES[method], heights))
    return rows


def _plot_attribution(run: RunResult, example, path: Path) -> None:
    rows = _attribution_rows(run, example)
    figure = _figure(16, 1.35 * len(rows) + 0.3)
    axes = np.atleast_1d(figure.subplots(len(rows), 1, squeeze=False)).ravel()
    for axis, (title, matrix) in zip(axes, rows, strict=True):
        _logo(axis, matrix)
        axis.set_title(title, fontsize=9, loc="left")
        axis.tick_params(labelsize=7)
    figure.tight_layout(pad=0.4)
    _save(figure, path)


def _plot_interpretability(
    result: ExperimentResult, methods: Sequence[str], kind: str, colours: dict, path: Path
) -> None:
    models = _models(result)
    figure = _figure(max(4.0, 3.4 * len(methods)), 3.4)
    axes = np.atleast_1d(figure.subplots(1, max(1, len(methods)), squeeze=False)).ravel()
    seen: set[tuple[str, str]] = set()
    for axis, method in zip(axes, methods, strict=False):
        for run in result.runs:
            score = run.interpretability.get(method)
            if score is None:
                continue
            key = (run.model, run.activation)
            axis.scatter(
                run.test_auroc,
                getattr(score, kind),
                color=colours[run.activation],
                marker=_MARKERS[models.index(run.model) % len(_MARKERS)],
                edgecolor="black",
                linewidth=0.5,
                s=40,
                label=f"{run.model}, {run.activation}" if key not in seen else None,
            )
            seen.add(key)
        axis.set_title(METHOD_TITLES.get(method, method).split(" (")[0], fontsize=10)
        axis.set_xlabel("classification AUROC")
        axis.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel(f"interpretability {kind.upper()}")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(
            handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False
        )
        figure.tight_layout(rect=(0, 0.08 + 0.04 * ((len(labels) - 1) // 4), 1, 1))
    else:
        figure.tight_layout()
    _save(figure, path)


# --------------------------------------------------------------------------- helpers


def _first_seed_runs(result: ExperimentResult) -> list[RunResult]:
    """One run per (model, activation): the first one listed (the first seed)."""
    chosen: dict[tuple[str, str], RunResult] = {}
    for run in result.runs:
        chosen.setdefault((run.model, run.activation), run)
    return list(chosen.values())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"
