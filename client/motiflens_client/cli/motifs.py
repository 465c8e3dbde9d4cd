"""``motiflens tomtom``, ``databases`` and ``motifs discover``: motif comparison, databases, discovery."""

from __future__ import annotations

import argparse
import sys

from motiflens_client.cli._args import (
    EXIT_OK,
    CliError,
    Commands,
    command,
    group,
    input_file,
    non_negative_float,
    non_negative_int,
    output_dir,
    output_file,
)
from motiflens_client.cli._inputs import add_sequence_source, read_meme, sequences, write_bytes, write_text
from motiflens_client.cli._output import note, out, print_json, print_table, progress_choice
from motiflens_client.sdk import Client
from motiflens_client.sdk.progress import Bar, open_bar
from motiflens_client.types import TomtomHit
from motiflens_client.wire import vocabulary


def register_tomtom(commands: Commands) -> None:
    """The ``tomtom`` command."""
    parser = command(
        commands,
        "tomtom",
        _tomtom,
        "compare MEME motifs with a motif database (MEME Tomtom's TSV)",
        description=(
            "Tomtom (MEME 5's defaults: Euclidean distance; or --dist pearson) of every query\n"
            "motif against a database; prints MEME Tomtom's TSV (Query_ID ... Orientation) to stdout or\n"
            "--out. MEME's TSV has no TF names: --table prints the hits as a table with each target's\n"
            "name (JASPAR: the TF) beside its id, and with --out that table follows the summary line."
        ),
    )
    parser.add_argument(
        "queries", type=input_file, metavar="QUERIES.meme", help="MEME minimal format (version 4)"
    )
    parser.add_argument(
        "--database",
        default="JASPAR2016",
        help="a JASPAR release (JASPAR2014 ... JASPAR2026) or an uploaded db-... id (default %(default)s)",
    )
    parser.add_argument("--collection", default="", help="JASPAR collection (default CORE)")
    parser.add_argument("--tax-group", default="", help="JASPAR taxonomic group (default vertebrates)")
    parser.add_argument(
        "--thresh",
        type=non_negative_float,
        default=0.1,
        help="report hits with E-value <= this (default 0.1)",
    )
    parser.add_argument("--qvalue", type=non_negative_float, default=0.0, help="threshold q-values instead")
    parser.add_argument("--trim", action="store_true", help="trim queries to informative columns first")
    parser.add_argument(
        "--dist",
        choices=("ed", "pearson"),
        default="ed",
        help="column distance, as MEME's -dist: ed (Euclidean, MEME 5's default) or pearson; default ed",
    )
    parser.add_argument(
        "--out",
        type=output_file,
        metavar="OUT.tsv",
        help="write the TSV here; stdout then gets a summary line and the hits with their TF names",
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="print the hits as a table with TF names (TARGET, TF, ...) instead of MEME's TSV",
    )


#: Columns of ``tomtom``'s table: MEME's TSV fields, less the consensi, plus the target's name.
TOMTOM_COLUMNS = ("QUERY", "TARGET", "TF", "E_VALUE", "Q_VALUE", "P_VALUE", "OFFSET", "OVERLAP", "STRAND")


def _hit_row(hit: TomtomHit) -> tuple:
    # TF: the target's alternate name (JASPAR's TF name, e.g. CTCF for MA0139.1); "-" if none.
    return (
        hit.query_id,
        hit.target_id,
        hit.target_name,
        f"{hit.e_value:.3g}",
        f"{hit.q_value:.3g}",
        f"{hit.p_value:.3g}",
        hit.offset,
        hit.overlap,
        hit.orientation,
    )


def _tomtom(args: argparse.Namespace, client: Client) -> int:
    result = client.tomtom(
        read_meme(args.queries),
        database=args.database,
        collection=args.collection,
        tax_group=args.tax_group,
        evalue_threshold=args.thresh,
        qvalue_threshold=args.qvalue,
        trim=args.trim,
        distance=args.dist,
    )
    if args.out is not None:
        write_text(args.out, result.tsv)  # MEME's format exactly: no name column
        out(f"{args.out}  {len(result.hits)} hits against {result.num_targets} targets")
    elif not args.table:
        sys.stdout.write(result.tsv)
        return EXIT_OK
    if result.hits or args.table:
        print_table(TOMTOM_COLUMNS, [_hit_row(hit) for hit in result.hits])
    return EXIT_OK


def register_databases(commands: Commands) -> None:
    """The ``databases`` group: list, upload."""
    sub = group(commands, "databases", "motif databases for tomtom (motifmatch)")
    parser = command(sub, "list", _list_databases, "list JASPAR releases and uploaded databases")
    parser.add_argument("--json", action="store_true")
    parser = command(sub, "upload", _upload_database, "upload a MEME file as a database; prints its id")
    parser.add_argument("name")
    parser.add_argument("meme", type=input_file, metavar="FILE.meme")
    parser.add_argument("--json", action="store_true")


def _list_databases(args: argparse.Namespace, client: Client) -> int:
    databases = client.databases()
    if args.json:
        print_json(databases)
        return EXIT_OK
    print_table(
        ("DATABASE_ID", "NAME", "MOTIFS", "SOURCE", "COLLECTION", "TAX_GROUP"),
        [(d.database_id, d.name, d.num_motifs, d.source, d.collection, d.tax_group) for d in databases],
    )
    return EXIT_OK


def _upload_database(args: argparse.Namespace, client: Client) -> int:
    info = client.upload_database(args.name, read_meme(args.meme))
    if args.json:
        print_json(info)
    else:
        out(info.database_id)
    return EXIT_OK


def register_discover(commands: Commands) -> None:
    """The ``motifs`` group: discover."""
    sub = group(commands, "motifs", "motifs from attribution maps (TF-MoDISco, then Tomtom)")
    parser = command(
        sub,
        "discover",
        _discover,
        "TF-MoDISco patterns of a model's attribution maps, matched against JASPAR",
        description=(
            "The interpreter attributes the sequences (hypothetical maps; default DeepSHAP), runs\n"
            "TF-MoDISco (modisco-lite, its command-line defaults) and matches each pattern's trimmed\n"
            "PWM with Tomtom. Prints one row per pattern; --out DIR also writes motifs.meme,\n"
            "patterns.tsv and logos/<pattern>.{cwm,pwm}.png. The result is stored as a motifs-... artifact."
        ),
    )
    parser.add_argument("model_id", metavar="MODEL_ID", nargs="?", default="", help="not with --attributions")
    add_sequence_source(parser, attributions=True)
    parser.add_argument(
        "--job", action="store_true", help="with --attributions: run as a trainer job (survives restarts)"
    )
    parser.add_argument("--positives-only", action="store_true", help="only rows whose --target label is 1")
    parser.add_argument("--method", choices=vocabulary.METHOD_NAMES, default="deepshap")
    parser.add_argument("--target", type=non_negative_int, default=0, help="output unit (default 0)")
    parser.add_argument("--num-references", type=non_negative_int, default=0, help="default 0: 10")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--gradient-correction", action="store_true")
    parser.add_argument("--max-seqlets", type=non_negative_int, default=0, help="per sign (default 0: 2000)")
    parser.add_argument(
        "--window", type=non_negative_int, default=0, help="central window, nt (0: min(400, L))"
    )
    parser.add_argument("--database", default="", help="JASPAR release to match against (default JASPAR2016)")
    parser.add_argument("--meme", type=input_file, metavar="DB.meme", help="match against this file instead")
    parser.add_argument("--thresh", type=non_negative_float, default=0.0, help="Tomtom E-value (0: 0.1)")
    parser.add_argument("--name", default="", help="name recorded with the stored result")
    parser.add_argument("--out", type=output_dir, metavar="DIR")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


class DiscoveryProgress:
    """The ``progress`` callback ``motifs discover`` gives ``discover_motifs``: (stage, done, total, seconds).

    On a terminal stderr (and without ``--no-progress``) a bar of sequences attributed of
    the events' total, opened at the first event, with the stage ("attributing",
    "discovering", "matching") as its postfix; TF-MoDISco and Tomtom report no count, so
    the bar then holds at the total while its clock runs. Otherwise (a pipe, a log,
    ``--no-progress``) one ``motiflens: STAGE DONE/TOTAL  N s`` line per event on stderr.
    Nothing on stdout. :meth:`close` ends the bar (a context manager does it too).
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.choice = progress_choice(args)
        self.bar: Bar | None = None

    def __call__(self, stage: str, done: int, total: int, elapsed: float) -> None:
        """One DiscoverMotifs progress event: ``done`` of ``total`` sequences (0, 0 after attributing)."""
        if self.choice is False:
            note(f"{stage} {done}/{total}  {elapsed:.0f} s" if total else f"{stage}  {elapsed:.0f} s")
            return
        if self.bar is None:  # per_step None: a wait of minutes, worth a bar from the first event
            self.bar = open_bar(self.choice, total=total or None, desc="discover motifs", unit="seq")
        bar = self.bar
        if total and bar.total != total:
            bar.total = total
        bar.set_postfix_str(stage, refresh=done <= bar.n)  # no count to add: redraw for the stage
        if done > bar.n:  # a restarted stream repeats events: the count never goes back
            bar.update(done - bar.n)

    def close(self) -> None:
        """End the bar, if one was opened (idempotent)."""
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> DiscoveryProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _discover(args: argparse.Namespace, client: Client) -> int:
    shared = {
        "positives_only": args.positives_only,
        "max_seqlets": args.max_seqlets,
        "window": args.window,
        "database": args.database,
        "database_meme": read_meme(args.meme) if args.meme is not None else "",
        "evalue_threshold": args.thresh,
        "logos": args.out is not None,
        "name": args.name,
    }
    chosen = None
    with DiscoveryProgress(args) as progress:  # the bar ends before the table is printed, or on an error
        if args.attributions:
            if args.model_id:
                raise CliError("MODEL_ID: leave it out with --attributions (the artifact names its model)")
            if args.job:
                job = client.discover_motifs_job(args.attributions, **shared)
                note(f"job {job.job_id}")
                result = client.get_motifs(job.wait().motifs_id)
            else:
                result = client.discover_motifs(
                    "", attributions_id=args.attributions, progress=progress, **shared
                )
        else:
            if not args.model_id or args.job:
                raise CliError("MODEL_ID is required, and --job needs --attributions")
            chosen = sequences(args, client)
            result = client.discover_motifs(
                args.model_id,
                chosen.value,
                method=args.method,
                target=args.target,
                num_references=args.num_references,
                seed=args.seed,
                gradient_correction=args.gradient_correction,
                progress=progress,
                **shared,
            )
    rows = [_pattern_row(pattern) for pattern in result.patterns]
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_text(args.out / "motifs.meme", result.meme)
        lines = ["\t".join(PATTERN_COLUMNS)] + ["\t".join(str(value) for value in row) for row in rows]
        write_text(args.out / "patterns.tsv", "\n".join(lines) + "\n")
        (args.out / "logos").mkdir(exist_ok=True)
        for pattern in result.patterns:
            write_bytes(args.out / "logos" / f"{pattern.name}.cwm.png", pattern.cwm_logo_png)
            write_bytes(args.out / "logos" / f"{pattern.name}.pwm.png", pattern.pwm_logo_png)
    if args.json:
        print_json(result)
    else:
        out(f"{result.motifs_id}  {len(result.patterns)} patterns from {result.num_sequences} sequences")
        print_table(PATTERN_COLUMNS, rows)
    if chosen is not None:
        chosen.report_upload()
    return EXIT_OK


#: Columns of ``motifs discover``'s table and patterns.tsv.
PATTERN_COLUMNS = ("PATTERN", "SIGN", "SEQLETS", "BEST_MATCH", "TF", "E_VALUE", "CONSENSUS")


def _pattern_row(pattern) -> tuple:
    best = pattern.best_match
    consensus = "".join("ACGT"[i] for i in pattern.motif_pwm.argmax(axis=1))
    if best is None:
        return (pattern.name, pattern.sign, pattern.num_seqlets, "-", "-", "-", consensus)
    return (
        pattern.name,
        pattern.sign,
        pattern.num_seqlets,
        best.target_id,
        best.target_name,
        f"{best.e_value:.3g}",
        consensus,
    )
