"""``motiflens filters``, ``attribute``, ``predict``, ``trust``: the interpreter on any sequences."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from motiflens_client.cli._args import (
    EXIT_OK,
    CliError,
    Commands,
    command,
    input_file,
    non_negative_float,
    non_negative_int,
    output_dir,
    output_file,
)
from motiflens_client.cli._inputs import (
    add_sequence_source,
    read_meme,
    sequences,
    write_bytes,
    write_npz,
    write_text,
)
from motiflens_client.cli._output import out, print_fields, print_table, progress_choice
from motiflens_client.sdk import Client
from motiflens_client.types import DatasetSplit
from motiflens_client.wire import vocabulary
from motiflens_client.wire.sequences import one_hot

METHODS = vocabulary.METHOD_NAMES
OUTPUTS = vocabulary.OUTPUT_NAMES
REFERENCES = vocabulary.REFERENCE_NAMES
FORMS = vocabulary.FORM_NAMES


def register_filters(commands: Commands) -> None:
    """The ``filters`` command."""
    parser = command(
        commands,
        "filters",
        _filters,
        "first-layer filters as PWMs (MEME file, PNG logos)",
        description=(
            "First-layer filters as PWMs, by aligning the sequence windows where each filter\n"
            "activates above --threshold of its maximum (the paper used the test split).\n"
            "Without --meme the MEME text goes to stdout; with it, a summary table does."
        ),
    )
    parser.add_argument("model_id", metavar="MODEL_ID")
    add_sequence_source(parser)
    parser.add_argument(
        "--threshold",
        type=non_negative_float,
        default=0.0,
        help="fraction of a filter's maximum a site must exceed (default 0: 0.5)",
    )
    parser.add_argument("--window", type=non_negative_int, default=0, help="nt (default 0: the filter width)")
    parser.add_argument(
        "--meme", type=output_file, metavar="OUT.meme", help="write the filters in MEME format"
    )
    parser.add_argument(
        "--logos", type=output_dir, metavar="DIR", help="write DIR/filter<i>.png logos (created if missing)"
    )


def _filters(args: argparse.Namespace, client: Client) -> int:
    chosen = sequences(args, client)
    result = client.filters(
        args.model_id,
        chosen.value,
        threshold=args.threshold,
        window=args.window,
        logos=args.logos is not None,
    )
    if args.logos is not None:
        try:
            args.logos.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CliError(f"cannot create {args.logos}: {error.strerror or error}") from None
        for motif in result.filters:
            if motif.logo_png:
                write_bytes(args.logos / f"{motif.motif_id}.png", motif.logo_png)
    if args.meme is None:
        sys.stdout.write(result.meme)
        chosen.report_upload()
        return EXIT_OK
    write_text(args.meme, result.meme)
    print_table(
        ("FILTER", "SITES", "MAX_ACTIVATION", "CONSENSUS"),
        [
            (m.motif_id, m.num_sites, m.max_activation, consensus(m.pwm) if m.num_sites else "-")
            for m in result.filters
        ],
    )
    chosen.report_upload()
    return EXIT_OK


def consensus(pwm: np.ndarray) -> str:
    """The most likely base of each position of a PWM of shape (L, 4)."""
    return "".join("ACGT"[i] for i in np.argmax(np.asarray(pwm), axis=1))


def register_attribute(commands: Commands) -> None:
    """The ``attribute`` command."""
    parser = command(
        commands,
        "attribute",
        _attribute,
        "attribution maps to an NPZ file (scores, hypothetical, one-hot (N, L, 4) + settings)",
        description=(
            "Attribution maps of one output unit. OUT.npz holds `scores` (N, L, 4) float32 in the\n"
            "chosen --form, `hypothetical` (N, L, 4) (what each base would contribute), `one_hot`\n"
            "(N, L, 4) and the settings (model_id, method, target, output, reference, num_references,\n"
            "num_steps, seed, times_input, form, gradient_correction, source), plus `ids` for FASTA\n"
            "input. --modisco DIR also writes DIR/ohe.npz and DIR/shap.npz (arr_0, (N, 4, L)), the\n"
            "inputs of `modisco motifs -s DIR/ohe.npz -a DIR/shap.npz`."
        ),
    )
    parser.add_argument("model_id", metavar="MODEL_ID")
    add_sequence_source(parser)
    parser.add_argument("--method", choices=METHODS, required=True)
    parser.add_argument("--target", type=non_negative_int, default=0, help="output unit (default 0)")
    parser.add_argument("--output", choices=OUTPUTS, default="logit", help="default %(default)s")
    parser.add_argument(
        "--reference",
        choices=REFERENCES,
        default="shuffle",
        help="references of integrated_gradients/deepshap (default %(default)s: position shuffle)",
    )
    parser.add_argument("--num-references", type=non_negative_int, default=0, help="default 0: 10")
    parser.add_argument("--num-steps", type=non_negative_int, default=0, help="integrated gradients (0: 20)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the references (default 0)")
    parser.add_argument("--times-input", action="store_true", help="multiply saliency by the input")
    parser.add_argument(
        "--form",
        choices=FORMS,
        default="scores",
        help=(
            "map in `scores`: the method's own (default), hypothetical, or projected (hypothetical x one-hot)"
        ),
    )
    parser.add_argument(
        "--gradient-correction",
        action="store_true",
        help="subtract the per-position mean over bases from the gradients (saliency, IG, DeepSHAP)",
    )
    parser.add_argument("--modisco", type=output_dir, metavar="DIR", help="also write modisco-lite inputs")
    parser.add_argument("--out", type=output_file, required=True, metavar="OUT.npz")


def _attribute(args: argparse.Namespace, client: Client) -> int:
    chosen = sequences(args, client)
    maps = client.attribution_maps(
        args.model_id,
        chosen.value,
        method=args.method,
        target=args.target,
        output=args.output,
        reference=args.reference,
        num_references=args.num_references,
        num_steps=args.num_steps,
        seed=args.seed,
        times_input=args.times_input,
        form=args.form,
        gradient_correction=args.gradient_correction,
        progress=progress_choice(args),
    )
    one_hot = _one_hot(chosen.value, client, progress_choice(args))
    arrays = {
        "scores": maps.scores,
        "hypothetical": maps.hypothetical,
        "one_hot": one_hot,
        "model_id": np.array(args.model_id),
        "method": np.array(args.method),
        "target": np.array(args.target),
        "output": np.array(args.output),
        "reference": np.array(args.reference),
        "num_references": np.array(args.num_references),
        "num_steps": np.array(args.num_steps),
        "seed": np.array(args.seed),
        "times_input": np.array(args.times_input),
        "form": np.array(args.form),
        "gradient_correction": np.array(args.gradient_correction),
        "source": np.array(chosen.source),
    }
    if chosen.ids is not None:
        arrays["ids"] = np.array(chosen.ids)
    write_npz(args.out, arrays)
    out(f"{args.out}  scores {tuple(arrays['scores'].shape)}")
    if args.modisco is not None:
        args.modisco.mkdir(parents=True, exist_ok=True)
        for name, array in maps.modisco_arrays(one_hot).items():
            write_npz(args.modisco / f"{name}.npz", {"arr_0": array})
        out(f"{args.modisco}/ohe.npz, shap.npz  (N, 4, L) {tuple(one_hot.transpose(0, 2, 1).shape)}")
    chosen.report_upload()
    return EXIT_OK


def _one_hot(value: Sequence[str] | DatasetSplit, client: Client, progress: bool | None) -> np.ndarray:
    """The one-hot (N, L, 4) float32 of the sequences a command sent."""
    if isinstance(value, DatasetSplit):
        rows = client.read_split(
            value.dataset_id, value.split, offset=value.offset, limit=value.limit, progress=progress
        )
        return np.array(rows.one_hot)
    return one_hot(value)


def register_predict(commands: Commands) -> None:
    """The ``predict`` command."""
    parser = command(
        commands,
        "predict",
        _predict,
        "model predictions (N, T), to an NPZ file or as TSV on stdout",
    )
    parser.add_argument("model_id", metavar="MODEL_ID")
    add_sequence_source(parser)
    parser.add_argument("--output", choices=OUTPUTS, default="probability", help="default %(default)s")
    parser.add_argument(
        "--out",
        type=output_file,
        metavar="OUT.npz",
        help="`predictions` (N, T) + settings; default TSV on stdout",
    )


def _predict(args: argparse.Namespace, client: Client) -> int:
    chosen = sequences(args, client)
    predictions = np.asarray(client.predict(args.model_id, chosen.value, output=args.output))
    if args.out is None:
        ids = chosen.ids or tuple(str(args.offset + i) for i in range(predictions.shape[0]))
        out("\t".join(["id", *(f"target_{j}" for j in range(predictions.shape[1]))]))
        for name, row in zip(ids, predictions, strict=True):
            out("\t".join([name, *(f"{value:.6g}" for value in row)]))
        chosen.report_upload()
        return EXIT_OK
    arrays = {
        "predictions": predictions.astype(np.float32),
        "model_id": np.array(args.model_id),
        "output": np.array(args.output),
        "source": np.array(chosen.source),
    }
    if chosen.ids is not None:
        arrays["ids"] = np.array(chosen.ids)
    write_npz(args.out, arrays)
    out(f"{args.out}  predictions {tuple(predictions.shape)}")
    chosen.report_upload()
    return EXIT_OK


def register_trust(commands: Commands) -> None:
    """The ``trust`` command."""
    parser = command(
        commands,
        "trust",
        _trust,
        "trust report: can the model's explanations be trusted? (no ground truth needed)",
        description=(
            "Scores that need no ground truth: first-layer filters matched against JASPAR beside the\n"
            "chance level of column-shuffled filters, agreement of saliency/ISM/DeepSHAP, DeepSHAP's\n"
            "stability across reference sets and strands, the off-simplex share of the gradient; for\n"
            "a synthetic data set's split also the paper's interpretability AUROC/AUPR."
        ),
    )
    parser.add_argument("model_id", metavar="MODEL_ID")
    add_sequence_source(parser)
    parser.add_argument("--positives-only", action="store_true", help="only rows whose --target label is 1")
    parser.add_argument("--target", type=non_negative_int, default=0, help="output unit (default 0)")
    parser.add_argument("--num-references", type=non_negative_int, default=0, help="DeepSHAP (0: 10)")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--database", default="", help="JASPAR release for the filters (default JASPAR2016)")
    parser.add_argument(
        "--meme", type=input_file, metavar="DB.meme", help="match the filters against this file"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--out", type=output_file, metavar="REPORT.json", help="also write the JSON here")


def _trust(args: argparse.Namespace, client: Client) -> int:
    chosen = sequences(args, client)
    report = client.trust_report(
        args.model_id,
        chosen.value,
        positives_only=args.positives_only,
        target=args.target,
        num_references=args.num_references,
        seed=args.seed,
        database=args.database,
        database_meme=read_meme(args.meme) if args.meme is not None else "",
    )
    if args.out is not None:
        write_text(args.out, report.json + "\n")
    if args.json:
        out(report.json)
    else:
        rows = [
            ("sequences", report.num_sequences),
            ("filter match", report.filter_match),
            ("filter match by chance", report.filter_match_chance),
            ("filter match excess", report.filter_match_excess),
            *((f"agreement {pair}", value) for pair, value in report.method_agreement.items()),
            ("mean method agreement", report.mean_method_agreement),
            ("reference stability", report.reference_stability),
            ("reverse-complement stability", report.reverse_complement_stability),
            ("off-simplex fraction", report.off_simplex_fraction),
            *(
                (f"ground truth {method} AUROC/AUPR", f"{v['auroc']:.4f} / {v['aupr']:.4f}")
                for method, v in report.ground_truth.items()
            ),
        ]
        print_fields(rows)
    chosen.report_upload()
    return EXIT_OK
