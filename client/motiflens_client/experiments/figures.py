"""Figures and HTML pieces of the experiment reports, in the paper's numbering.

The building blocks of :func:`motiflens_client.experiments.report.write_report` and of
``bench/reproduce_report.py``: the activation functions (Fig. 1a), first-layer filter
logos (Fig. 1b), match-fraction box plots (Fig. 1c), attribution logos of one sequence
(Fig. 2d), interpretability against classification scatter plots (Fig. 2b–c), the
classification tables, the pages' style sheet and a few helpers (colours per
activation, one run per (model, activation), file-name slugs).

Needs matplotlib and logomaker (the SDK's optional ``plots`` extra:
``pip install 'motiflens-client[plots]'``); both are imported only when something is
drawn. Figures are drawn on ``matplotlib.figure.Figure`` objects directly, so the
caller's pyplot backend and state are left alone.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from motiflens_client.experiments.results import ExperimentResult, RunResult

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
#: The inline style sheet of the experiment and reproduction reports.
CSS = """
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


# --------------------------------------------------------------------------- tables


def format_metric(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, or "–" for None or NaN (the tables' number format)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _mean_sd_text(mean: float, sd: float, n: int) -> str:
    if mean is None or math.isnan(mean):
        return "–"
    return f"{mean:.3f} ± {sd:.3f}" if n > 1 else f"{mean:.3f}"


def metrics_tables(result: ExperimentResult) -> str:
    """HTML of the classification tables: one row per run, then mean ± sd over seeds per group.

    Groups are (model, activation), as in
    :meth:`~motiflens_client.experiments.results.ExperimentResult.summary_by_activation`;
    for Task 3 the group table adds each attribution method's interpretability AUROC.
    """
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
            f"<td>{run.seed}</td><td>{run.epochs}</td><td>{format_metric(run.test_auroc)}</td>"
            f"<td>{format_metric(run.test_aupr)}</td><td>{format_metric(run.match_fraction)}</td>"
            f"<td>{format_metric(run.match_any_fraction)}</td>"
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


# --------------------------------------------------------------------------- plots


def new_figure(width: float, height: float):
    """A ``matplotlib.figure.Figure`` of ``width`` × ``height`` inches at 100 dpi (no pyplot)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def save_figure(figure, path: Path) -> None:
    """Write ``figure`` to ``path`` as a 100-dpi PNG."""
    figure.savefig(path, format="png", dpi=100)


def plot_activations(path: Path) -> None:
    """Fig. 1a: each of :data:`ACTIVATION_FUNCTIONS` on x in [-3, 3], one panel each, PNG at ``path``."""
    x = np.linspace(-3.0, 3.0, 301)
    figure = new_figure(14, 2.4)
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
    save_figure(figure, path)


def activation_colours(result: ExperimentResult) -> dict[str, str]:
    """Hex colour per activation label: tab10 in order of appearance; exponential is always red."""
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


def plot_match_fractions(result: ExperimentResult, colours: dict, path: Path) -> None:
    """Fig. 1c: box plots of the ground-truth and any-motif match fractions, PNG at ``path``.

    One box per (activation, model), one point per run; ``colours`` maps activation
    labels to colours (:func:`activation_colours`), markers tell the models apart.
    """
    models, activations = _models(result), _activations(result)
    figure = new_figure(max(6.0, 1.4 * len(activations) * max(1, len(models)) + 2), 3.4)
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
    save_figure(figure, path)


def _information_matrix(pwm: np.ndarray) -> np.ndarray:
    """Letter heights of an information-content logo: p × (2 + Σ p log2 p)."""
    pwm = np.clip(np.asarray(pwm, dtype=np.float64), 0.0, None)
    totals = pwm.sum(axis=1, keepdims=True)
    pwm = np.divide(pwm, totals, out=np.full_like(pwm, 0.25), where=totals > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(pwm > 0, pwm * np.log2(pwm), 0.0)
    information = 2.0 + plogp.sum(axis=1, keepdims=True)
    return pwm * information


def draw_logo(axis, matrix: np.ndarray) -> None:
    """Draw a letter logo on ``axis`` with logomaker.

    Parameters
    ----------
    axis : matplotlib.axes.Axes
        Where to draw.
    matrix : np.ndarray, shape (L, 4)
        Letter heights per position, columns A, C, G, T (negative heights point down).
    """
    import logomaker
    import pandas as pd

    frame = pd.DataFrame(np.asarray(matrix, dtype=np.float64), columns=list("ACGT"))
    logomaker.Logo(frame, ax=axis, color_scheme="classic")
    axis.spines[["top", "right"]].set_visible(False)


def plot_filters(run: RunResult, path: Path) -> None:
    """Fig. 1b: information-content logos of ``run``'s first-layer filters, PNG at ``path``.

    Four logos per row, each titled with the filter's best Tomtom hit (green: a
    ground-truth TF, black: another motif, grey: no hit). Writes nothing when the
    run has no filters.
    """
    filters = run.filters
    if filters is None or filters.num_filters == 0:
        return  # the caller skips such runs; nothing to draw
    count = filters.num_filters
    columns = 4 if count > 4 else count
    rows = math.ceil(count / columns)
    figure = new_figure(3.2 * columns, 1.25 * rows + 0.2)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for i, axis in enumerate(axes):
        if i >= count:
            axis.set_axis_off()
            continue
        draw_logo(axis, _information_matrix(filters.pwms[i]))
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
    save_figure(figure, path)


#: Title of Fig. 2d's information-content row (the planted motifs, in bits).
GROUND_TRUTH_ROW = "ground truth (bits)"


def _attribution_rows(run: RunResult, example) -> list[tuple[str, np.ndarray]]:
    one_hot = np.asarray(example.one_hot, dtype=np.float64)
    rows = []
    if example.ground_truth is not None:
        rows.append((GROUND_TRUTH_ROW, _information_matrix(example.ground_truth)))
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


def plot_attribution(run: RunResult, example, path: Path) -> None:
    """Fig. 2d: ``run``'s attribution maps of the example sequence, one logo row each, PNG at ``path``.

    ``example`` is an :class:`~motiflens_client.experiments.results.ExampleSequence`; its
    ground truth (information content) is the top row when known. Saliency, integrated
    gradients and DeepSHAP are drawn times the input; ISM as the L2 norm per position.
    """
    rows = _attribution_rows(run, example)
    figure = new_figure(16, 1.35 * len(rows) + 0.3)
    axes = np.atleast_1d(figure.subplots(len(rows), 1, squeeze=False)).ravel()
    for axis, (title, matrix) in zip(axes, rows, strict=True):
        draw_logo(axis, matrix)
        if title == GROUND_TRUTH_ROW:
            # Information content: 0 to 2 bits for DNA, ticked at whole bits only.
            axis.set_ylim(0.0, 2.0)
            axis.set_yticks([0, 1, 2])
        axis.set_title(title, fontsize=9, loc="left")
        axis.tick_params(labelsize=7)
    figure.tight_layout(pad=0.4)
    save_figure(figure, path)


def plot_interpretability(
    result: ExperimentResult, methods: Sequence[str], kind: str, colours: dict, path: Path
) -> None:
    """Fig. 2b–c: interpretability ``kind`` against classification AUROC, PNG at ``path``.

    ``kind`` is "auroc" or "aupr"; one panel per method of ``methods``, one point per run
    (colour: activation, from ``colours``; marker: model).
    """
    models = _models(result)
    figure = new_figure(max(4.0, 3.4 * len(methods)), 3.4)
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
    save_figure(figure, path)


# --------------------------------------------------------------------------- helpers


def first_seed_runs(result: ExperimentResult) -> list[RunResult]:
    """One run per (model, activation): the first one listed (the first seed)."""
    chosen: dict[tuple[str, str], RunResult] = {}
    for run in result.runs:
        chosen.setdefault((run.model, run.activation), run)
    return list(chosen.values())


def slug(text: str) -> str:
    """``text`` as part of a file name: other runs than letters, digits and ``_.-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"
