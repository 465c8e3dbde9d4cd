"""``motiflens tomtom`` and ``databases``: motif comparison and motif databases (motifmatch)."""

from __future__ import annotations

import argparse
import sys

from motiflens_client.cli._args import (
    EXIT_OK,
    Commands,
    command,
    group,
    input_file,
    non_negative_float,
    output_file,
)
from motiflens_client.cli._inputs import read_meme, write_text
from motiflens_client.cli._output import out, print_json, print_table
from motiflens_client.sdk import Client


def register_tomtom(commands: Commands) -> None:
    """The ``tomtom`` command."""
    parser = command(
        commands,
        "tomtom",
        _tomtom,
        "compare MEME motifs with a motif database (MEME Tomtom's TSV)",
        description=(
            "Tomtom (MEME 5's defaults: Euclidean distance; or --dist pearson) of every query\n"
            "motif against a database; prints MEME Tomtom's TSV (Query_ID ... Orientation) to stdout or --out"
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
        "--out", type=output_file, metavar="OUT.tsv", help="write the TSV here instead of stdout"
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
    if args.out is None:
        sys.stdout.write(result.tsv)
        return EXIT_OK
    write_text(args.out, result.tsv)
    out(f"{args.out}  {len(result.hits)} hits against {result.num_targets} targets")
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
