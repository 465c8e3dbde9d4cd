"""``motiflens variants score``: a VCF's variant effects on a model, as a TSV and an annotated VCF."""

from __future__ import annotations

import argparse
import gzip
from contextlib import closing
from pathlib import Path

from motiflens_client.cli._args import (
    EXIT_OK,
    CliError,
    Commands,
    command,
    group,
    input_file,
    non_negative_int,
    output_file,
)
from motiflens_client.cli._output import note, out, progress_choice
from motiflens_client.sdk import Client
from motiflens_client.sdk.progress import open_bar
from motiflens_client.wire import vocabulary

#: Alleles per streamed message of ScoreVariants when batch_size is left at 0 (the server's default).
VARIANT_BATCH = 256


def count_alleles(path: Path) -> int | None:
    """ALT alleles of a VCF (plain or gzip/bgzip), as the interpreter splits its records: the total of a bar.

    Each comma-separated ALT counts one ("." too: the interpreter reports it as skipped).
    None when the file cannot be read as text; the interpreter then says what is wrong.
    """
    try:
        with path.open("rb") as probe:
            packed = probe.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rt") if packed else path.open() as handle:
            return sum(
                len(line.split("\t", 5)[4].split(","))
                for line in handle
                if line.strip() and not line.startswith("#") and line.count("\t") >= 4
            )
    except (OSError, UnicodeDecodeError, EOFError):
        return None


def register(commands: Commands) -> None:
    """The ``variants`` group: score."""
    sub = group(commands, "variants", "variant effects from a VCF")
    parser = command(
        sub,
        "score",
        _score,
        "score every ALT allele of a VCF with a model (TSV, annotated VCF)",
        description=(
            "Each variant gets a window of the model's input length centred on it in the genome\n"
            "(uploaded first unless --genome-upload names one), REF and ALT predictions and their\n"
            "difference. Multi-allelic records are split; symbolic alleles, REF that disagrees with\n"
            "the genome, unknown contigs (after chr1/1 renaming) and oversized indels are skipped\n"
            "with the reason; windows past a chromosome end are padded with N. --tsv writes one row\n"
            "per allele; --vcf-out writes the input VCF with MLENS_* INFO fields, records in order."
        ),
    )
    parser.add_argument("model_id", metavar="MODEL_ID")
    parser.add_argument(
        "vcf", type=input_file, metavar="VCF", help="plain or bgzip (at most 16 MiB without --job)"
    )
    genome = parser.add_mutually_exclusive_group(required=True)
    genome.add_argument("--genome", type=input_file, metavar="FASTA", help="reference FASTA (plain or bgzip)")
    genome.add_argument("--genome-upload", metavar="UPLOAD_ID", help="a genome uploaded before (upload-...)")
    parser.add_argument("--output", choices=("auto", *vocabulary.OUTPUT_NAMES), default="auto")
    parser.add_argument("--both-strands", action="store_true", help="average with the reverse complement")
    parser.add_argument("--maps", choices=("none", "ism", "saliency"), default="none")
    parser.add_argument("--flank", type=non_negative_int, default=0, help="map positions each side (0: 20)")
    parser.add_argument(
        "--unit", type=non_negative_int, default=0, help="output unit of the TSV/VCF (default 0)"
    )
    parser.add_argument(
        "--job", action="store_true", help="upload the VCF and score it as a trainer job (any size; no maps)"
    )
    parser.add_argument("--tsv", type=output_file, metavar="OUT.tsv")
    parser.add_argument("--vcf-out", type=output_file, metavar="OUT.vcf")


def _score(args: argparse.Namespace, client: Client) -> int:
    genome = args.genome_upload or client.upload(args.genome, progress=progress_choice(args)).upload_id
    if args.genome:
        note(f"genome uploaded as {genome} (pass --genome-upload {genome} next time)")
    if args.job:
        if args.maps != "none":
            raise CliError("--maps applies to the streamed call, not to --job")
        job = client.score_variants_job(
            args.model_id,
            vcf_upload_id=client.upload(args.vcf, progress=progress_choice(args)).upload_id,
            genome_upload_id=genome,
            output=args.output,
            both_strands=args.both_strands,
        )
        note(f"job {job.job_id}")
        scores = client.read_variant_scores(job.wait(progress=progress_choice(args)).variants_id)
    else:
        bar = open_bar(
            progress_choice(args),
            total=lambda: count_alleles(args.vcf),
            desc="score variants",
            unit="allele",
            per_step=VARIANT_BATCH,
        )

        def received(alleles: int) -> None:
            bar.update(alleles - bar.n)

        with closing(bar):
            scores = client.score_variants(
                args.model_id,
                args.vcf,
                genome_upload_id=genome,
                output=args.output,
                both_strands=args.both_strands,
                maps=args.maps,
                target=args.unit,
                flank=args.flank,
                progress=received,
            )
    summary = scores.summary
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary["skipped_by_reason"].items())) or "none"
    out(
        f"{summary['records']} records, {summary['alleles']} alleles: {summary['scored']} scored, "
        f"{summary['skipped']} skipped ({reasons}); {summary['renamed_contigs']} on renamed contigs, "
        f"{summary['padded']} padded with N; output {summary['output']}"
    )
    if args.tsv is not None:
        scores.to_tsv(args.tsv, unit=args.unit)
        out(f"{args.tsv}")
    if args.vcf_out is not None:
        scores.annotate_vcf(args.vcf, args.vcf_out, unit=args.unit)
        out(f"{args.vcf_out}")
    return EXIT_OK
